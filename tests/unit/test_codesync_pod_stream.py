"""The pod side of code sync (remote/codesync_pod.py) fed crafted streams, run locally as on a pod:
no file lands outside the code folder, a truncated stream leaves no half-written file, sizes hold."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from importlib import resources
from pathlib import Path

import pytest

FRAME = struct.Struct(">cQ")
SCRIPT = resources.files("podreconcile.remote").joinpath("codesync_pod.py").read_text()


def frame(kind: bytes, data: bytes) -> bytes:
    return FRAME.pack(kind, len(data)) + data


def stream(files: dict[str, bytes], delete=(), truncate_last: int = 0) -> bytes:
    out = frame(b"H", zlib.compress(json.dumps({"delete": list(delete), "send": list(files)}).encode()))
    for data in files.values():
        out += frame(b"F", data)
    sent = {rel: [len(data), "0" * 64, False] for rel, data in files.items()}
    out += frame(b"T", zlib.compress(json.dumps({"paths": list(files), "sent": sent, "revision": "r"}).encode()))
    return out[: len(out) - truncate_last] if truncate_last else out


def apply(root: Path, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, "apply", str(root)], input=data, capture_output=True)


def test_a_well_formed_stream_writes_the_files_and_the_manifest(tmp_path):
    root = tmp_path / "code"
    done = apply(root, stream({"a.py": b"x = 1\n", "pkg/b.py": b"y = 2\n"}))
    assert done.returncode == 0, done.stderr
    assert (root / "pkg/b.py").read_bytes() == b"y = 2\n"
    files = json.loads((root / ".podreconcile-manifest.json").read_text())["files"]
    assert files["a.py"][:3] == [6, "0" * 64, False]


@pytest.mark.parametrize("rel", ["../escape.py", "/tmp/abs.py", "a/../../escape.py", "./a.py", "a//b.py"])
def test_an_unsafe_path_is_refused_and_nothing_lands_outside(tmp_path, rel):
    root = tmp_path / "deep" / "code"
    done = apply(root, stream({rel: b"pwned\n"}))
    assert done.returncode != 0 and b"unsafe path" in done.stderr
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents]
    assert outside == []


def test_a_truncated_stream_leaves_no_half_written_file(tmp_path):
    root = tmp_path / "code"
    done = apply(root, stream({"big.bin": b"z" * 100_000}, truncate_last=60_000))
    assert done.returncode != 0 and b"ended early" in done.stderr
    assert not (root / "big.bin").exists()
    assert [p.name for p in root.iterdir() if "podreconcile-tmp" in p.name] == []
    # The interrupted sync is still recorded as the writer of big.bin, so a later sync may delete it.
    assert "big.bin" in json.loads((root / ".podreconcile-manifest.json").read_text())["files"]
