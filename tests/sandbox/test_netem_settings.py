"""The pure parts of emulated links: netem settings as users write them, and how a lane schedules packets."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podreconcile.sandbox import links
from podreconcile.sandbox.link_emulator import QUEUE_LIMIT, Lane, Settings

# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ms"), [("25ms", 25.0), ("0.5s", 500.0), ("250us", 0.25), ("7", 7.0), ("20S", 20000.0)])
def test_durations_read_as_tc_writes_them(text: str, ms: float) -> None:
    assert links.parse_duration_ms(text, "delay") == ms


@pytest.mark.parametrize("text", ["fast", "-5ms", "5 minutes", "", "1e3ms"])
def test_a_bad_duration_is_one_sentence_naming_the_form(text: str) -> None:
    with pytest.raises(links.LinkError, match="write it like 25ms"):
        links.parse_duration_ms(text, "delay")


def test_netem_words_of_sandbox_up() -> None:
    netem = links.parse_netem("delay 25ms jitter 5ms loss 5% rate 100mbit")
    assert netem == links.Netem(delay_ms=25, jitter_ms=5, loss_pct=5, rate_bps=100e6)
    assert netem.describe() == "delay 25ms jitter 5ms loss 5% rate 100mbit"
    assert links.parse_netem("") == links.Netem()
    assert links.Netem().describe() == "clear (no delay, no loss)"
    for bad, words in [("delay", "pairs"), ("delay 5ms duplicate 1%", "not one of"), ("rate fast", "not a rate"),
                       ("loss 101%", "between 0% and 100%"), ("jitter 5ms", "give --delay too")]:  # fmt: skip
        with pytest.raises(links.LinkError, match=words):
            links.parse_netem(bad)


def test_down_goes_alone_and_for_only_with_down() -> None:
    assert links.netem_from_options(down=True, down_for="20s") == links.Netem(down=True, down_for=20.0)
    assert links.Netem(down=True, down_for=20.0).describe() == "down for 20s"
    assert links.Netem(down=True).describe() == "down until cleared"
    with pytest.raises(links.LinkError, match="--for only goes with --down"):
        links.netem_from_options(delay="5ms", down_for="20s")
    with pytest.raises(links.LinkError, match="give it alone"):
        links.netem_from_options(loss="5%", down=True)


@given(delay=st.floats(0, 1000), jitter=st.floats(0, 100), loss=st.floats(0, 100), rate=st.floats(1, 1e10))
def test_the_settings_file_carries_what_sandbox_link_set(delay: float, jitter: float, loss: float, rate: float) -> None:
    netem = links.Netem(delay_ms=delay, jitter_ms=jitter, loss_pct=loss, rate_bps=rate)
    settings = Settings.from_json(netem.to_file(generation=3), wall_now=1000.0, mono_now=50.0)
    assert settings == Settings(delay=delay / 1000, jitter=jitter / 1000, loss=loss / 100, rate=rate)


def test_a_cut_for_some_seconds_ends_at_the_same_moment_on_the_link_process_clock() -> None:
    raw = {"down": True, "down_until": 1020.0}
    assert Settings.from_json(raw, wall_now=1000.0, mono_now=50.0).down_until == 70.0
    assert Settings.from_json({"down": True, "down_until": None}, 1000.0, 50.0).down_until == float("inf")


# --- address blocks ---------------------------------------------------------------------------


@given(st.integers(0, links.LINK_RANGE.num_addresses // 4 - 1), st.integers(0, links.LINK_RANGE.num_addresses // 4 - 1))
def test_blocks_are_disjoint_30s_inside_the_range(a: int, b: int) -> None:
    first, second = links.Block(a), links.Block(b)
    for block in (first, second):
        assert block.network.prefixlen == 30 and block.network.subnet_of(links.LINK_RANGE)
        assert {ipaddress.ip_address(block.host_ip), ipaddress.ip_address(block.pod_ip)} <= set(block.network.hosts())
        assert len(block.device) <= 15  # the kernel's limit for a device name
    assert (a == b) == first.network.overlaps(second.network)


# --- a lane -----------------------------------------------------------------------------------

sends = st.lists(st.tuples(st.floats(0, 0.05), st.integers(40, 1500)), min_size=1, max_size=60)


@given(sends=sends, delay=st.floats(0, 0.3), jitter=st.floats(0, 0.05), rate=st.sampled_from([0.0, 1e6, 1e8]),
       seed=st.integers(0, 2**32))  # fmt: skip
def test_packets_keep_their_order_and_never_beat_the_delay(sends, delay, jitter, rate, seed) -> None:
    lane = Lane(random.Random(seed))
    settings = Settings(delay=delay, jitter=jitter, rate=rate)
    now, previous, bits = 100.0, 0.0, 0.0
    for gap, size in sends:
        now += gap
        arrival = lane.schedule(settings, size, now)
        assert arrival is not None  # no loss, no cut, and the queue is never full here
        assert arrival >= previous
        assert arrival >= now + max(0.0, delay - jitter) - 1e-9
        previous = arrival
        bits += size * 8
    if rate:  # everything sent has been serialized at `rate` before the last one arrives
        assert previous >= 100.0 + sends[0][0] + bits / rate - 1e-9


@given(seed=st.integers(0, 2**32))
def test_loss_drops_about_its_share_and_a_cut_drops_everything(seed: int) -> None:
    lane = Lane(random.Random(seed))
    kept = sum(lane.schedule(Settings(loss=0.05), 1000, 1.0) is not None for _ in range(4000))
    assert 3600 < kept < 3990  # 5% of 4000 is 200; far outside these bounds is a broken draw
    cut = Settings(down_until=10.0)
    assert all(lane.schedule(cut, 100, now) is None for now in (1.0, 5.0, 9.999))
    assert lane.schedule(cut, 100, 10.0) is not None
    assert lane.schedule(Settings(loss=1.0), 100, 11.0) is None


def test_a_full_queue_drops_the_new_packet() -> None:
    lane = Lane(random.Random(0))
    lane.queued = QUEUE_LIMIT
    assert lane.schedule(Settings(delay=0.1), 100, 1.0) is None
    lane.queued = QUEUE_LIMIT - 1
    assert lane.schedule(Settings(delay=0.1), 100, 1.0) == pytest.approx(1.1)
