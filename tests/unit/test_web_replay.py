"""The replay buffer of `threadpty web` sessions (``threadpty.web._replay``): bounded, and replayed
from a clean boundary (never inside an escape sequence or a UTF-8 character), however the output
was split and however much of it was dropped. No engine."""

from __future__ import annotations

import os
from typing import List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadpty.web._replay import (
    CSI,
    ESCAPE,
    GROUND,
    OSC,
    STRING,
    Replay,
    clean_start,
    state_after,
    step,
)

FUZZ = settings(
    max_examples=int(os.environ.get("THREADPTY_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces of real terminal output: text, characters of 2 to 4 bytes, sequences of every kind,
# a CSI with a C0 control inside, strings ended by BEL and by ST, and cancelled ones.
PIECES = [
    b"hello ",
    b"y\r\n",
    "é€😀".encode(),
    "ü".encode(),
    b"\x1b[1;32m",
    b"\x1b[?1049h",
    b"\x1b[H\x1b[2J",
    b"\x1b[1\n;2H",
    b"\x1b(B",
    b"\x1b7",
    b"\x1b]0;title\x07",
    b"\x1b]2;a title \xc3\xa9\x1b\\",
    b"\x1bP1$r0m\x1b\\",
    b"\x1b_apc string\x1b\\",
    b"\x1b[12\x18",
    b"\x1b]0;never ended\x1a",
    b"\x07\x08\t",
]


def reference_states(data: bytes) -> List[int]:
    """The parser's state before each byte of ``data`` (and after the last), stepped one by one
    from the ground state."""
    states = [GROUND]
    for byte in data:
        states.append(step(states[-1], byte))
    return states


def is_clean(data: bytes, states: List[int], offset: int) -> bool:
    if offset == len(data):
        return True
    if data[offset] in (0x1B, 0x18, 0x1A):
        return True  # the state after it is the same whatever it was before
    return states[offset] == GROUND and not 0x80 <= data[offset] <= 0xBF


streams = st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map(b"".join)


@FUZZ
@given(
    data=streams,
    cuts=st.lists(st.integers(0, 4000), max_size=20),
    limit=st.integers(1, 300),
)
def test_the_replay_starts_clean_and_is_bounded(data: bytes, cuts: List[int], limit: int) -> None:
    replay = Replay(limit)
    points = sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]
    last = 0
    for p in points:
        replay.append(memoryview(data)[last:p])
        last = p
    kept = data[-limit:] if limit < len(data) else data
    assert len(replay) == len(kept) <= limit
    states = reference_states(data)
    start = len(data) - len(kept)
    # The state carried where the kept bytes begin is the one stepping through all of it gives.
    assert replay._state == states[start]
    replayed, skipped = replay.snapshot()
    assert replayed == kept[skipped:]
    assert is_clean(data, states, start + skipped)
    # And nothing was skipped that did not need to be.
    for earlier in range(start, start + skipped):
        assert not is_clean(data, states, earlier)


@FUZZ
@given(data=streams, state=st.sampled_from([GROUND, ESCAPE, CSI, OSC, STRING]))
def test_state_after_agrees_with_stepping_through(data: bytes, state: int) -> None:
    expected = state
    for byte in data:
        expected = step(expected, byte)
    assert state_after(state, data, len(data)) == expected
    assert state_after(state, bytearray(data), len(data)) == expected


def test_nothing_is_kept_with_a_limit_of_zero() -> None:
    replay = Replay(0)
    replay.append(b"x" * 1000)
    assert len(replay) == 0 and replay.snapshot() == (b"", 0)


def test_the_whole_output_is_replayed_while_it_fits() -> None:
    replay = Replay(1024)
    replay.append(b"\x1b[1m")
    replay.append("bold é\r\n".encode())
    assert replay.snapshot() == ("\x1b[1mbold é\r\n".encode(), 0)


def test_a_cut_sequence_and_character_are_skipped() -> None:
    replay = Replay(8)
    replay.append(b"abc\x1b[12;")
    replay.append(b"40Hxyz")  # the head "abc\x1b[12" goes: the CSI is cut
    assert replay.snapshot() == (b"xyz", 5)
    replay = Replay(3)
    replay.append("a€b".encode())  # 61 e2 82 ac 62: the euro's first byte goes
    assert replay.snapshot() == (b"b", 2)


def test_a_long_string_cut_is_skipped_to_its_end() -> None:
    replay = Replay(16)
    replay.append(b"\x1b]0;" + b"t" * 40 + b"\x07after")
    assert replay.snapshot() == (b"after", 11)
    replay = Replay(16)
    replay.append(b"\x1bP" + b"q" * 40 + b"\x1b\\after")
    # From the ST's ESC: a lone ST in the ground state is nothing.
    assert replay.snapshot() == (b"\x1b\\after", 9)


def test_a_flood_without_sequences_keeps_the_ground_state_cheaply() -> None:
    replay = Replay(256 * 1024)
    chunk = b"y\n" * 32768
    for _ in range(100):
        replay.append(chunk)
    assert len(replay) == 256 * 1024
    assert replay.snapshot() == (b"y\n" * (128 * 1024), 0)


def test_clean_start_of_nothing() -> None:
    assert clean_start(CSI, b"") == 0
    assert clean_start(OSC, b"no end") == 6


def test_a_snapshot_costs_one_copy() -> None:
    """A resync or a reattach takes a snapshot of the whole buffer (MiBs with a large
    ``--replay``): it is copied once, not through a copy of the slice first."""
    import tracemalloc

    size = 4 << 20
    replay = Replay(size)
    replay.append(b"\x1b[1m" + b"y" * (size - 4))
    tracemalloc.start()
    try:
        data, skip = replay.snapshot()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (len(data), skip) == (size, 0)
    assert peak < size * 1.25, peak
