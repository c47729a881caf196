"""`podreconcile init` into a folder: a missing one is created; a file in its place is one clear error."""

from __future__ import annotations

from podreconcile.cli.main import main


def test_init_creates_a_missing_project_folder(tmp_path, capsys):
    folder = tmp_path / "new" / "my-model"
    assert main(["init", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [".gitignore", ".runpod.env.example", "podspec.schema.json",
                                                       "podspec.yaml"]
    assert "name: my-model" in (folder / "podspec.yaml").read_text()
    assert f"wrote {folder / 'podspec.yaml'}" in capsys.readouterr().out


def test_init_on_a_file_says_so(tmp_path, capsys):
    (tmp_path / "notes").write_text("x")
    assert main(["init", str(tmp_path / "notes")]) == 1
    assert capsys.readouterr().err == (f"Error: {tmp_path / 'notes'} is a file; give init the project folder "
                                       "(or a new folder to create).\n")
