"""Programs that run ON the pod with its system python3 (stdlib only, Python >= 3.8).

`probe.py` is one file sent on stdin. The runner is the package `runner/`, shipped as one zip
archive (`runner_archive()`) that `python3 runner.pyz <launch.json>` runs.
"""

from __future__ import annotations

import io
import zipfile
from importlib import resources

ARCHIVE_PACKAGE = "runner"
# The archive's entry point; `main` gets sys.argv whole: argv[0] is the archive, re-run by the watchdog.
ARCHIVE_MAIN = b"import sys\n\nfrom runner.main import main\n\nsys.exit(main(sys.argv))\n"
SHEBANG = b"#!/usr/bin/env python3\n"
# Fixed entry metadata: the same sources always give the same bytes (and the same upload).
ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
ENTRY_MODE = 0o644


def runner_sources() -> dict:
    """{name inside the archive: source bytes} for the runner package's modules."""
    package = resources.files(__name__).joinpath(ARCHIVE_PACKAGE)
    return {
        "%s/%s" % (ARCHIVE_PACKAGE, item.name): item.read_bytes()
        for item in package.iterdir()
        if item.name.endswith(".py") and item.is_file()
    }


def runner_archive() -> bytes:
    """The runner as a zipapp, built in memory: a shebang, then a zip of `__main__.py` and `runner/`.

    Entries are stored uncompressed (zipimport then needs no zlib on the pod's python3), in sorted
    order, with fixed timestamps and modes, so the archive is a pure function of the sources.
    """
    entries = dict(runner_sources(), **{"__main__.py": ARCHIVE_MAIN})
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            archive.writestr(_entry(name), entries[name])
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ENTRY_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = ENTRY_MODE << 16
    info.create_system = 3  # Unix, wherever apply runs, so the bytes do not depend on the host
    return info
