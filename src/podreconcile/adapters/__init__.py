"""The concrete adapters: RunPod's APIs (httpx, the runpod SDK), SSH (paramiko), S3 (boto3).

Two optional imports of those libraries are turned off here, before any adapter imports them: each
library guards it with `except ImportError` for installs without the extra, and each costs a large
share of a command's start (docs/benchmarks.md, CLI start-up).

- `httpx._main` is httpx's own command-line client: it loads click, pygments and half of rich.
- `invoke` runs the `Match exec` lines of an ssh_config for paramiko; podreconcile never reads an
  ssh_config, and invoke loads unittest.mock among others.
"""

import sys

for _unused in ("httpx._main", "invoke"):
    sys.modules.setdefault(_unused, None)  # type: ignore[arg-type] - None makes `import` raise ImportError
