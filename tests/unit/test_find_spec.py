"""Where the podspec is found: -f FILE, -f DIR, else here or the nearest parent folder (like git)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podreconcile.core.errors import UserError
from podreconcile.engine.spec_path import find_spec


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "src" / "deep").mkdir(parents=True)
    (tmp_path / "proj" / "podspec.yaml").write_text("version: 1\n")
    (tmp_path / "proj" / "other.yaml").write_text("version: 1\n")
    return tmp_path


def test_found_in_the_nearest_parent_folder(tree: Path) -> None:
    assert find_spec(None, tree / "proj" / "src" / "deep") == tree / "proj" / "podspec.yaml"
    assert find_spec(None, tree / "proj") == tree / "proj" / "podspec.yaml"


def test_a_folder_means_its_podspec_and_a_file_is_taken_as_it_is(tree: Path) -> None:
    assert find_spec(Path("proj/"), tree) == tree / "proj" / "podspec.yaml"
    assert find_spec(Path("proj/other.yaml"), tree) == tree / "proj" / "other.yaml"
    assert find_spec(Path(".."), tree / "proj" / "src") == tree / "proj" / "podspec.yaml"


def test_missing_specs_name_the_fix(tree: Path) -> None:
    with pytest.raises(UserError, match=r"^No podspec.yaml in .* or any parent folder; run `podreconcile init`"):
        find_spec(None, tree)
    with pytest.raises(UserError, match=r"^proj/src/podspec.yaml not found; run `podreconcile init proj/src`"):
        find_spec(Path("proj/src"), tree)
    with pytest.raises(UserError, match=r"^nothere.yaml does not exist; pass -f"):
        find_spec(Path("nothere.yaml"), tree)
