"""`{config}`, `{checkpoint}`, `{run_name}` in run.command, resume_args and tensorboard.logdir.

Substituted literally, one pass, never with `str.format`: any other brace (`awk '{print $0}'`,
`{config.__class__}`) is left as written, and a filled-in value is never scanned again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = ("config", "checkpoint", "run_name")
_TOKEN = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `{name}` of `values` replaced by its value; everything else as written."""
    return _TOKEN.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(), template)
