"""What the project has and what the pod has: local files, one remote listing, the pure diff."""

from __future__ import annotations

import json
import os
import posixpath
import stat
from pathlib import Path
from typing import Iterable, Iterator

from podreconcile.core.errors import PermanentError, UserError
from podreconcile.core.ports import PodShell
from podreconcile.core.untrusted import as_int, as_str, json_value
from podreconcile.engine.datasync.model import DataFile, RemoteListing, UploadDiff
from podreconcile.engine.datasync.podscript import _script_command


def local_data(project_dir: Path, items: Iterable) -> list[DataFile]:
    """Every file of the `data:` entries (`DataItem`s), mapped to its path on the pod, sorted.

    An entry's `from` (relative to `project_dir`) is a file, sent to `to`, or a folder, whose files
    go under `to` with their relative paths. Symlinks to files are followed; links to folders
    inside a folder are not. Raises UserError for a `from` that does not exist and for two local
    files that would land on the same pod path.
    """
    project_dir = Path(project_dir).absolute()
    found: dict[str, DataFile] = {}
    for index, item in enumerate(items):
        for data_file in _files_of_item(project_dir, index, item):
            _inside(project_dir, data_file.local, index)
            _add_once(found, data_file, index)
    return [found[remote] for remote in sorted(found)]


def _inside(project_dir: Path, path: Path, index: int) -> None:
    """Data comes from the project: a symlink (or a `from`) that leads out of it is refused, since a
    cloned repository could point one at ~/.ssh and have it uploaded."""
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(project_dir))
    if real != root and root not in real.parents:
        raise UserError(
            f"data[{index}]: {path} leads outside the project (to {real}); podreconcile uploads only files "
            "inside the project. Copy the file in, or remove the link."
        )


def _files_of_item(project_dir: Path, index: int, item) -> Iterator[DataFile]:
    source = project_dir / item.from_
    if source.is_file():
        st = source.stat()
        yield DataFile(source, item.to, st.st_size, st.st_mtime_ns)
    elif source.is_dir():
        for path, rel, st in _walk(source, index):
            yield DataFile(path, posixpath.join(item.to, rel), st.st_size, st.st_mtime_ns)
    elif source.exists() or source.is_symlink():
        raise UserError(
            f"data[{index}].from: {item.from_} is neither a file nor a folder ({source}); point "
            "`from` in podspec.yaml at the file or folder to upload"
        )
    else:
        raise UserError(
            f"data[{index}].from: {item.from_} does not exist (looked for {source}); create it, or "
            "correct `from` in podspec.yaml (it is relative to the folder of podspec.yaml)"
        )


def _walk(source: Path, index: int) -> Iterator[tuple[Path, str, os.stat_result]]:
    """(path, POSIX path relative to `source`, stat) of the files under `source`, in order."""

    def fail(error: OSError) -> None:
        raise UserError(
            f"data[{index}].from: cannot read {error.filename} ({error.strerror}); fix its "
            "permissions or remove it from the folder"
        )

    for folder, dirs, names in os.walk(source, onerror=fail):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            try:
                st = path.stat()  # follows a symlink to a file
            except OSError:
                continue  # a broken symlink, or removed meanwhile: nothing to send
            if stat.S_ISREG(st.st_mode):
                yield path, path.relative_to(source).as_posix(), st


def _add_once(found: dict[str, DataFile], data_file: DataFile, index: int) -> None:
    other = found.get(data_file.remote)
    if other is not None and other.local != data_file.local:
        raise UserError(
            f"data[{index}] puts {data_file.local} at {data_file.remote} on the pod, where another "
            f"entry already puts {other.local}; give the entries different `to` paths"
        )
    found[data_file.remote] = data_file


# -- pod side: the listing -------------------------------------------------------------------------


def listing_request(items_to: Iterable[str]) -> tuple[str, bytes]:
    """The command and stdin of the listing, for a caller that batches it with other steps."""
    return _script_command("list"), json.dumps({"roots": sorted(set(items_to))}).encode()


def parse_listing(stdout: str) -> RemoteListing:
    """The listing script's output as a RemoteListing; PermanentError if it is not one.

    An entry whose size or mtime is unreadable is left out (the file is sent again); output that is
    not a listing at all is an error, since nothing can be compared with it.
    """
    data = json_value(stdout)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise PermanentError("the pod's listing of the data files could not be parsed; apply again, or "
                             "check the pod's python3 with `podreconcile logs`")
    files = {}
    for path, entry in data["files"].items():
        size, mtime = (as_int(v, 0) for v in entry) if isinstance(entry, list) and len(entry) == 2 else (None, None)
        if size is not None and mtime is not None:
            files[path] = (size, mtime)
    return RemoteListing(files, as_str(data.get("rsync"), 4096) or None)


def remote_listing(session: PodShell, items_to: list[str]) -> RemoteListing:
    """One round trip: remote path -> (size, mtime_ns) of every file under the `to` roots.

    The result is a dict (a RemoteListing) whose `rsync` attribute tells whether the pod has rsync.
    Roots that do not exist yet contribute nothing; nothing on the pod is changed.
    """
    if not items_to:
        return RemoteListing()
    command, request = listing_request(items_to)
    result = session.run(command, stdin=request, what="listing the data files on the pod", timeout=300)
    return parse_listing(result.stdout)


# -- the plan --------------------------------------------------------------------------------------


def same_mtime(local_ns: int, remote_ns: int) -> bool:
    """Whether the pod's mtime is the local one, allowing for a pod file system (or tool) that
    keeps only microseconds or whole seconds: otherwise such a pod would get every file again."""
    if local_ns == remote_ns:
        return True
    return any(
        remote_ns % unit == 0 and local_ns - local_ns % unit == remote_ns for unit in (1_000, 10**9)
    )


def plan_upload(local: list[DataFile], remote: dict[str, tuple[int, int]]) -> UploadDiff:
    """Pure: the files to send are those the pod lacks or whose (size, mtime) differ."""
    send = tuple(f for f in local if not _up_to_date(f, remote.get(f.remote)))
    return UploadDiff(
        send=send,
        bytes_to_send=sum(f.size for f in send),
        files_total=len(local),
        bytes_total=sum(f.size for f in local),
        rsync_on_pod=bool(getattr(remote, "rsync", None)),
    )


def _up_to_date(data_file: DataFile, seen: tuple[int, int] | None) -> bool:
    if seen is None:
        return False
    return seen[0] == data_file.size and same_mtime(data_file.mtime_ns, seen[1])


# -- upload ----------------------------------------------------------------------------------------

