"""Programs that run ON the pod with its system python3 (stdlib only, Python >= 3.8).

`probe.py` is one file sent on stdin. The runner is the package `runner/`, shipped as one zip
archive (`runner_archive()`) that `python3 runner.pyz <launch.json>` runs. The idle guard is a
smaller zip archive of the same package (`guard_archive()`: the guard and the pod-stop chain it
shares with the runner), sent on stdin of the command that arms it.
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
GUARD_MAIN = b"import sys\n\nfrom runner.idle_guard import main\n\nsys.exit(main(sys.argv))\n"
# The runner modules the guard needs: itself and the pod-stop chain (podstop imports basics, launch).
GUARD_MODULES = ("__init__", "basics", "env", "idle_guard", "launch", "lock", "podapi", "podstop")
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
    return _zipapp(dict(runner_sources(), **{"__main__.py": ARCHIVE_MAIN}))


def guard_archive() -> bytes:
    """The idle guard as a zipapp, like the runner's but with only the modules it needs."""
    wanted = {"%s/%s.py" % (ARCHIVE_PACKAGE, name) for name in GUARD_MODULES}
    sources = {name: text for name, text in runner_sources().items() if name in wanted}
    return _zipapp(dict(sources, **{"__main__.py": GUARD_MAIN}))


def _zipapp(entries: dict) -> bytes:
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
