"""Where the podspec is, found without loading it (pathlib only: a command can look before pydantic is
imported)."""

from __future__ import annotations

import os
from pathlib import Path

from podreconcile.core.errors import UserError

SPEC_NAME = "podspec.yaml"


def find_spec(spec_file: Path | None, cwd: Path | None = None) -> Path:
    """The podspec to use, absolute: `-f FILE`, `-f DIR` (its podspec.yaml), or else podspec.yaml
    in the current folder or the nearest parent folder that has one, as git finds its repository."""
    cwd = (cwd or Path.cwd()).absolute()
    if spec_file is not None:
        path = Path(os.path.normpath(cwd / spec_file))
        if path.is_dir():
            path = path / SPEC_NAME
            if not path.is_file():
                raise UserError(f"{_shown(path, cwd)} not found; run `podreconcile init {_shown(path.parent, cwd)}` "
                                "to write one.")
        if not path.is_file():
            raise UserError(f"{spec_file} does not exist; pass -f with the podspec or the folder that holds it.")
        return path
    for folder in (cwd, *cwd.parents):
        if (folder / SPEC_NAME).is_file():
            return folder / SPEC_NAME
    raise UserError(f"No {SPEC_NAME} in {cwd} or any parent folder; run `podreconcile init` to write one, "
                    "or pass -f SPEC.")


def _shown(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd)) or "."
    except ValueError:
        return str(path)
