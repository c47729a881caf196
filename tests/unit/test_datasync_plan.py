"""Data sync without a pod: the local walk, the plan's decisions, rsync's progress and command."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from podreconcile.core.errors import PermanentError, UserError
from podreconcile.core.spec.models import DataItem
from podreconcile.engine.datasync import (
    DataFile,
    RemoteListing,
    local_data,
    parse_listing,
    parse_progress2,
    plan_upload,
    rsync_groups,
    same_mtime,
)

MTIME = 1_700_000_000_123_456_789


def item(from_: str, to: str) -> DataItem:
    return DataItem.model_validate({"from": from_, "to": to})


def data_file(remote: str, size: int = 10, mtime_ns: int = MTIME) -> DataFile:
    return DataFile(Path("/project") / remote.lstrip("/"), remote, size, mtime_ns)


# -- plan_upload -----------------------------------------------------------------------------------


def test_plan_sends_missing_resized_and_retimed_files_only():
    local = [
        data_file("/w/missing"),
        data_file("/w/resized", size=11),
        data_file("/w/retimed", mtime_ns=MTIME + 1),
        data_file("/w/same"),
    ]
    remote = {p: (10, MTIME) for p in ("/w/resized", "/w/retimed", "/w/same", "/w/only-on-pod")}
    diff = plan_upload(local, remote)
    assert [f.remote for f in diff.send] == ["/w/missing", "/w/resized", "/w/retimed"]
    assert diff.bytes_to_send == 10 + 11 + 10
    assert (diff.files_total, diff.bytes_total) == (4, 41)
    assert not diff.empty


def test_plan_of_an_up_to_date_tree_is_empty():
    local = [data_file("/w/a"), data_file("/w/b", size=0)]
    diff = plan_upload(local, {"/w/a": (10, MTIME), "/w/b": (0, MTIME)})
    assert diff.empty and diff.bytes_to_send == 0 and diff.files_total == 2


def test_plan_accepts_a_pod_clock_of_microseconds_or_seconds_but_nothing_else():
    assert same_mtime(MTIME, MTIME)
    assert same_mtime(MTIME, MTIME - MTIME % 1000)
    assert same_mtime(MTIME, MTIME - MTIME % 10**9)
    assert not same_mtime(MTIME, MTIME - 1)
    assert not same_mtime(MTIME, MTIME - MTIME % 10**9 - 10**9)  # a second earlier is a change
    assert not same_mtime(MTIME - MTIME % 10**9, MTIME)


def test_plan_carries_whether_the_pod_has_rsync():
    local = [data_file("/w/a")]
    assert plan_upload(local, RemoteListing({}, "/usr/bin/rsync")).rsync_on_pod
    assert not plan_upload(local, RemoteListing({}, None)).rsync_on_pod
    assert not plan_upload(local, {}).rsync_on_pod


def test_listing_output_is_parsed_and_garbage_is_a_permanent_error():
    listing = parse_listing('{"files": {"/w/a": [3, 5]}, "rsync": "/usr/bin/rsync"}')
    assert listing == {"/w/a": (3, 5)} and listing.rsync == "/usr/bin/rsync"
    assert parse_listing('{"files": {}, "rsync": null}').rsync is None
    with pytest.raises(PermanentError):
        parse_listing("Traceback ...")


# -- local_data ------------------------------------------------------------------------------------


def test_a_file_item_maps_to_its_to_path(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.jsonl").write_text("{}\n")
    os.utime(tmp_path / "data" / "t.jsonl", ns=(MTIME, MTIME))
    files = local_data(tmp_path, [item("data/t.jsonl", "/workspace/data/train.jsonl")])
    expected = DataFile(tmp_path / "data" / "t.jsonl", "/workspace/data/train.jsonl", 3, MTIME)
    assert files == [expected]


def test_a_folder_item_maps_every_file_below_it(tmp_path):
    root = tmp_path / "data" / "audio"
    for rel in ["a.wav", "sub/b.wav", "sub/deeper/c d's.wav"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * len(rel))
    (root / "link.wav").symlink_to(root / "a.wav")
    (root / "broken.wav").symlink_to(root / "nowhere")
    files = local_data(tmp_path, [item("data/audio", "/workspace/audio")])
    assert {f.remote: f.size for f in files} == {
        "/workspace/audio/a.wav": 5,
        "/workspace/audio/link.wav": 5,
        "/workspace/audio/sub/b.wav": 9,
        "/workspace/audio/sub/deeper/c d's.wav": 20,
    }
    assert all(f.local.is_absolute() and f.local.is_relative_to(root) for f in files)
    assert [f.remote for f in files] == sorted(f.remote for f in files)


def test_a_missing_from_names_the_entry_and_the_fix(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError) as caught:
        local_data(tmp_path, [item("data", "/w/data"), item("data/audio_0", "/w/audio")])
    message = str(caught.value)
    assert "data[1].from: data/audio_0 does not exist" in message
    assert "correct `from` in podspec.yaml" in message


def test_two_files_landing_on_one_pod_path_are_refused(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(UserError, match=r"data\[1\] puts .* another entry"):
        local_data(tmp_path, [item("a", "/w/x"), item("b", "/w/x")])


# -- rsync -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("         32,768   0%    0.00kB/s    0:00:00  ", (32768, 0.0, 0.0, None)),
        ("     55,017,472  27%   48.82MB/s    0:00:02  ", (55017472, 48.82 * 1024**2, 2.0, None)),
        (
            "    200,000,002  99%  609.28MB/s    0:00:03 (xfr#2, to-chk=49/51)",
            (200000002, 609.28 * 1024**2, 3.0, 2),
        ),
        (
            "  1,234,567,890  12%    1.50GB/s    1:02:03 (xfr#301, ir-chk=1000/1302)",
            (1234567890, 1.5 * 1024**3, 3723.0, 301),
        ),
        ("            512 100%  500.00B/s    0:00:00 (xfr#1, to-chk=0/1)", (512, 500.0, 0.0, 1)),
        ("      1,000   1%    0.00kB/s    ??:??:??  ", (1000, 0.0, None, None)),
    ],
)
def test_progress2_lines_are_parsed(line, expected):
    parsed = parse_progress2(line)
    assert parsed is not None
    got = (parsed.bytes_done, parsed.rate_bps, parsed.eta_s, parsed.files_done)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Number of files: 51 (reg: 51)",
        "Literal data: 200,000,141 bytes",
        "sending incremental file list",
        "rsync error: some files/attrs were not transferred (code 23)",
    ],
)
def test_other_rsync_lines_are_not_progress(line):
    assert parse_progress2(line) is None


def test_rsync_groups_root_files_where_local_and_pod_paths_part():
    project = Path("/home/me/proj")
    files = [
        DataFile(project / "data/audio/a.wav", "/workspace/data/audio/a.wav", 1, 0),
        DataFile(project / "data/audio/s/b.wav", "/workspace/data/audio/s/b.wav", 1, 0),
        DataFile(project / "data/t.jsonl", "/workspace/data/t.jsonl", 1, 0),
        DataFile(project / "other/x.bin", "/mnt/elsewhere/x.bin", 1, 0),
        DataFile(project / "raw.jsonl", "/workspace/data/train.jsonl", 1, 0),
    ]
    groups = {(str(g.local_root), g.remote_root): g.rels for g in rsync_groups(files)}
    assert groups == {
        ("/home/me/proj", "/workspace"): ("data/audio/a.wav", "data/audio/s/b.wav", "data/t.jsonl"),
        ("/home/me/proj/other", "/mnt/elsewhere"): ("x.bin",),
        ("/home/me/proj/raw.jsonl", "/workspace/data/train.jsonl"): (),  # renamed: sent alone
    }


def test_rsync_ssh_command_survives_rsync_splitting_it(tmp_path):
    """rsync splits -e itself, honouring quotes as a shell would for what shlex.quote writes."""
    from podreconcile.core.observation import Endpoint
    from podreconcile.engine.datasync import ssh_command

    class FakeSession:
        endpoint = Endpoint("127.0.0.1", 2222)
        host_key = "ssh-ed25519 AAAAC3Nz"

    key = tmp_path / "it's a \"key\" dir" / "id"
    command = ssh_command(FakeSession(), key, tmp_path / "known_hosts")
    argv = shlex.split(command)
    assert argv[argv.index("-i") + 1] == str(key)
    assert "StrictHostKeyChecking=yes" in argv and "-p" in argv and "2222" in argv
    assert (tmp_path / "known_hosts").read_text() == "[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nz\n"


def test_rsync_argv_keeps_paths_away_from_shells(tmp_path):
    from podreconcile.core.observation import Endpoint
    from podreconcile.engine.datasync import RSYNC_PARTIAL_DIR, RsyncGroup, rsync_argv

    class FakeSession:
        endpoint = Endpoint("127.0.0.1", 2222)

    files = (DataFile(Path("/p/data/it's x.bin"), "/w/data/it's x.bin", 1, 0),)
    group = RsyncGroup(Path("/p"), "/w", ("data/it's x.bin",), files)
    argv = rsync_argv(group, "ssh -p 2222", FakeSession(), tmp_path / "list")
    wanted = {"--protect-args", "--times", "--from0", f"--partial-dir={RSYNC_PARTIAL_DIR}"}
    assert wanted <= set(argv)
    assert argv[-3:] == ["--", "/p/", "root@127.0.0.1:/w/"]
    assert (tmp_path / "list").read_bytes() == b"data/it's x.bin\0"
    alone = RsyncGroup(Path("/p/a.jsonl"), "/w/b.jsonl", (), files)
    argv = rsync_argv(alone, "ssh", FakeSession(), tmp_path / "x")
    assert argv[-2:] == ["/p/a.jsonl", "root@127.0.0.1:/w/b.jsonl"]
