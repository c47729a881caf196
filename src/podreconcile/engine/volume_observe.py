"""Observation of a stopped (or not yet created) pod's network volume through RunPod's S3 API.

What the SSH probe (`remote/probe.py`) reads on a running pod is read here from the volume: the
run's status.json and launch.json (one listing of the run folder, two reads), the checkpoints (one
listing of the output dir), the code revision, the log's last line; the same parser
(`parse_probe`) turns it into RunFacts, marked `source="s3"`. Code differences come from the
manifest the last code sync left on the volume, data differences from one listing per target.
Nothing runs on a pod, so nothing is alive: `tmux_alive` and `runner_alive` are false.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import replace

from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import CodeFacts, DataFacts, Observation
from podreconcile.core.ports import (
    NotFoundError,
    ObjectTooLarge,
    RemoteObject,
    VolumeStore,
)
from podreconcile.core.run_observation import RunFacts, parse_probe
from podreconcile.core.volume_s3 import S3Route
from podreconcile.engine import codesync, pod_steps, volume_upload
from podreconcile.engine.codesync import FileEntry, RemoteManifest
from podreconcile.engine.volume_access import volume_key, volume_prefix

CHECKPOINT_RE = re.compile(r"^checkpoint-([0-9]+)$")
SMALL_FILE = 1 << 20  # status.json, launch.json, the code manifest: a few KB
TAIL_BYTES = 65536


def access_note(route: S3Route, pod_running: bool) -> str:
    """Which path the volume is read by, and why: `plan` shows it."""
    if pod_running:
        return "volume: read over SSH (the pod is running)"
    if route.available:
        return f"volume: read {route.explain()}"
    return f"volume: read {route.explain()}; a stopped pod's run is known after it starts"


def observe_volume(project, store: VolumeStore, local: Observation) -> Observation:
    """`local` with the run, code and data facts read from the volume; a note instead when S3 fails."""
    try:
        run = run_facts(project, store)
        code = code_facts(project, store) or local.code
        data = data_facts(project, store) if project.spec.data else None
    except (TemporaryError, PermanentError, UserError) as error:
        note = f"RunPod's S3 API did not answer ({error}); the run is known after the pod starts"
        return replace(local, notes=(*local.notes, note))
    return replace(local, run=run, code=code, data=data if data is not None else local.data)


def observe_data(project, store: VolumeStore, local: Observation) -> Observation | None:
    """`local` with the data compared through S3 (a running pod too); None when that cannot be done."""
    if not project.spec.data:
        return None
    try:
        data = data_facts(project, store)
    except (TemporaryError, PermanentError, UserError):
        return None
    return replace(local, data=data) if data is not None else None


def run_facts(project, store: VolumeStore) -> RunFacts | None:
    """The probe's facts, from the volume; None when the output dir is not on the volume."""
    paths = pod_steps.RunPaths(project.mount, project.run_name, project.spec.code.path, project.output_dir)
    run_prefix = volume_prefix(project.mount, paths.run_dir)
    out_prefix = volume_prefix(project.mount, project.output_dir)
    if run_prefix is None or out_prefix is None:
        return None
    in_run = {o.key for o in store.list(run_prefix)}
    launch = _json(store, run_prefix + "launch.json", in_run) or {}
    probe = {
        "status": _json(store, run_prefix + "status.json", in_run),
        "tmux_alive": False,
        "runner_alive": False,
        "checkpoints": checkpoints(store.list(out_prefix), out_prefix),
        "revision": _text(store, volume_key(project.mount, posixpath.join(project.spec.code.path,
                                                                          codesync.REVISION_NAME))),
        "log_tail": last_line(read_log_tail(store, project.mount, paths.current_log, TAIL_BYTES)),
        "has_rsync": False,
        "venv_ok": True,
        "launch_id": launch.get("launch_id"),
    }
    return replace(parse_probe(json.dumps(probe)), source="s3")


def checkpoints(objects: list[RemoteObject], prefix: str) -> list[dict]:
    """The probe's checkpoint entries from one listing of the output dir."""
    found: dict[str, dict] = {}
    for obj in objects:
        parts = obj.key[len(prefix):].split("/")
        match = CHECKPOINT_RE.match(parts[0])
        if not match or len(parts) < 2:  # a file named like a checkpoint is not one
            continue
        entry = found.setdefault(parts[0], {"name": parts[0], "step": int(match.group(1)), "complete": False,
                                            "mtime": obj.modified})
        entry["mtime"] = max(entry["mtime"], obj.modified)
        if parts[1:] == ["trainer_state.json"]:
            entry["complete"] = True
    return sorted(found.values(), key=lambda c: c["step"])


def code_facts(project, store: VolumeStore) -> CodeFacts | None:
    """The local code against the manifest the last sync stored on the volume (push mode only)."""
    code = project.spec.code
    manifest_key = volume_key(project.mount, posixpath.join(code.path, codesync.MANIFEST_NAME))
    if code.sync != "push" or manifest_key is None:
        return None
    stored = _json(store, manifest_key) or {}
    files = stored.get("files") if isinstance(stored.get("files"), dict) else {}
    remote_files = {rel: FileEntry(int(e[0]), str(e[1]), bool(e[2])) for rel, e in files.items()
                    if isinstance(e, list) and len(e) >= 3}
    revision = _text(store, volume_key(project.mount, posixpath.join(code.path, codesync.REVISION_NAME)))
    local = codesync.local_manifest(project.dir, code.exclude)
    diff = codesync.plan_sync(local, RemoteManifest(remote_files, frozenset(remote_files), revision), code.exclude)
    rev = codesync.revision(project.dir)
    return CodeFacts(revision=str(rev), dirty=rev.dirty, files_to_send=len(diff.send),
                     bytes_to_send=diff.bytes_to_send, files_to_delete=len(diff.delete),
                     remote_revision=revision, source="s3")


def data_facts(project, store: VolumeStore) -> DataFacts | None:
    diff = volume_upload.data_diff(project, store)
    if diff is None:
        return None
    rate, measured = volume_upload.upload_rate(project)
    return DataFacts(diff.files_total, diff.bytes_total, len(diff.send), diff.bytes_to_send, source="s3",
                     rate_bps=rate, rate_measured=measured)


def read_log_tail(store: VolumeStore, mount: str, path: str, max_bytes: int) -> str:
    """The end of a log on the volume ("" when there is none)."""
    key = volume_key(mount, path)
    if key is None:
        return ""
    try:
        return store.read_tail(key, max_bytes).decode("utf-8", "replace")
    except NotFoundError:
        return ""


def last_line(text: str) -> str | None:
    """The last non-empty line as a terminal shows it (after the last carriage return), as the probe does."""
    for line in reversed(text.split("\n")):
        shown = line.rstrip("\r").split("\r")[-1].rstrip()
        if shown:
            return shown
    return None


def _json(store: VolumeStore, key: str | None, known: set[str] | None = None) -> dict | None:
    text = _text(store, key, known)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _text(store: VolumeStore, key: str | None, known: set[str] | None = None) -> str | None:
    """A small file's text; None when absent (a listing that lacks it saves the read)."""
    if key is None or (known is not None and key not in known):
        return None
    try:
        return store.read(key, SMALL_FILE).decode("utf-8", "replace").strip() or None
    except (NotFoundError, ObjectTooLarge):
        return None
