"""Consecutive frames of one stream written as one (``FrameParser.runs``, ``Sink.write_many`` and
the output thread's plain loop in ``threadpty/_pump.py``), with no engine.

What the coalescing must keep: every byte, the order within a stream and the interleaving of
stdout and stderr (only frames of the same stream that follow each other are merged), a header
split across reads, and the data that came before an engine error or a malformed frame.
"""

from __future__ import annotations

import io
import os
import random
import socket
import threading
from typing import Any, List, Tuple

import pytest

import threadpty
from threadpty._connection import Connection
from threadpty._frames import FrameParser
from threadpty._pump import ConnectionReader
from threadpty._streams import Sink
from threadpty.errors import EngineError, ProtocolError

from doubles import FakeTarget, frame

pytestmark = pytest.mark.timeout(30)

# stdout, stdout, stderr, stdout (stream 0 counts as stdout), stdout, stderr, stderr
FRAMES = [
    (1, b"one "),
    (1, b"two "),
    (2, b"err1 "),
    (0, b"three "),
    (1, b"four\n"),
    (2, b"err2 "),
    (2, b"err3\n"),
]
WIRE = b"".join(frame(s, p) for s, p in FRAMES)
# What a reader sees when consecutive frames of one stream are merged, and only those.
MERGED = [(1, b"one two "), (2, b"err1 "), (1, b"three four\n"), (2, b"err2 err3\n")]


def runs_of(chunks: List[bytes]) -> List[Tuple[int, bytes]]:
    """Every run of every chunk, with adjacent runs of one stream (across chunks) merged."""
    parser = FrameParser()
    got: List[Tuple[int, bytes]] = []
    for chunk in chunks:
        for stream, pieces in parser.runs(memoryview(chunk)):
            data = b"".join(bytes(p) for p in pieces)
            if got and got[-1][0] == stream:
                got[-1] = (stream, got[-1][1] + data)
            else:
                got.append((stream, data))
    assert parser.error is None
    parser.close()
    return got


def test_runs_gather_consecutive_frames_of_one_stream_only() -> None:
    parser = FrameParser()
    runs = parser.runs(memoryview(WIRE))
    assert [(s, b"".join(bytes(p) for p in ps)) for s, ps in runs] == MERGED
    # Two frames in the first run, one piece per frame, each a view of the chunk (no copy).
    assert len(runs[0][1]) == 2 and all(isinstance(p, memoryview) for p in runs[0][1])


@pytest.mark.parametrize("cut", range(1, len(WIRE)))
def test_runs_with_the_stream_cut_anywhere(cut: int) -> None:
    # Cuts inside a header, inside a payload and on every boundary.
    assert runs_of([WIRE[:cut], WIRE[cut:]]) == MERGED


def test_runs_one_byte_at_a_time_and_random_cuts() -> None:
    assert runs_of([WIRE[i : i + 1] for i in range(len(WIRE))]) == MERGED
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(WIRE)), 5))
        bounds = [0, *cuts, len(WIRE)]
        assert runs_of([WIRE[a:b] for a, b in zip(bounds, bounds[1:])]) == MERGED


def test_runs_keep_what_came_before_an_engine_error() -> None:
    parser = FrameParser()
    runs = parser.runs(memoryview(frame(1, b"kept") + frame(3, b"boom") + frame(1, b"never")))
    assert [(s, b"".join(bytes(p) for p in ps)) for s, ps in runs] == [(1, b"kept")]
    assert isinstance(parser.error, EngineError) and "boom" in str(parser.error)
    assert parser.runs(memoryview(frame(1, b"later"))) == []
    with pytest.raises(EngineError):
        parser.close()


def test_runs_keep_what_came_before_a_bad_stream_id() -> None:
    parser = FrameParser()
    runs = parser.runs(memoryview(frame(2, b"kept") + frame(7, b"bad")))
    assert [(s, b"".join(bytes(p) for p in ps)) for s, ps in runs] == [(2, b"kept")]
    assert isinstance(parser.error, ProtocolError)


class Recorder:
    """A file object that logs each write, and which stream it was for."""

    def __init__(self, log: List[Tuple[str, bytes]], name: str) -> None:
        self.log, self.name = log, name

    def write(self, data: Any) -> int:
        self.log.append((self.name, bytes(data)))
        return len(data)


def test_output_thread_writes_each_run_once_in_order() -> None:
    ours, theirs = socket.socketpair()
    log: List[Tuple[str, bytes]] = []
    out, err = Sink(Recorder(log, "out")), Sink(Recorder(log, "err"))
    pump = ConnectionReader(Connection(ours), False, out, err)
    theirs.sendall(WIRE)
    theirs.shutdown(socket.SHUT_WR)
    try:
        pump.run()
    finally:
        ours.close()
        theirs.close()
    names = {1: "out", 2: "err"}
    # One write per run, not per frame: 4 writes for 7 frames, the interleaving as sent.
    assert log == [(names[s], data) for s, data in MERGED]


def test_session_keeps_stdout_and_stderr_interleaving_through_one_file() -> None:
    """Both streams into one object: merging across a stream change would reorder them."""
    ours, theirs = socket.socketpair()
    log: List[Tuple[str, bytes]] = []
    sink = Recorder(log, "both")
    s = threadpty.Session(
        FakeTarget(),  # type: ignore[arg-type]
        sockets=Connection(ours),
        interactive=False,
        stdout=sink,
        stderr=sink,
    )
    s.start()
    theirs.sendall(WIRE)
    theirs.shutdown(socket.SHUT_WR)
    s.join(timeout=10)
    theirs.close()
    assert b"".join(d for _, d in log) == b"".join(p for _, p in FRAMES)
    assert [d for _, d in log] == [data for _, data in MERGED]


def test_an_engine_error_after_output_still_writes_the_output() -> None:
    ours, theirs = socket.socketpair()
    got = io.BytesIO()
    pump = ConnectionReader(Connection(ours), False, Sink(got), Sink(got))
    theirs.sendall(frame(1, b"a") + frame(1, b"b") + frame(3, b"gone"))
    try:
        with pytest.raises(EngineError):
            pump.run()
    finally:
        ours.close()
        theirs.close()
    assert got.getvalue() == b"ab"


def written_many(cuts: List[Tuple[int, int]]) -> bytes:
    """What a raw pipe gets from one ``write_many`` of ``b"0123456789"`` cut into these pieces."""
    r, w = os.pipe()
    with os.fdopen(w, "wb", buffering=0) as f:
        buf = memoryview(b"0123456789")
        Sink(f).write_many([buf[a:b] for a, b in cuts])
    with os.fdopen(r, "rb") as reader:
        return reader.read()


def test_write_many_to_a_raw_file_is_one_writev(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[int] = []
    real = os.writev

    def counting(fd: int, buffers: Any) -> int:
        calls.append(len(buffers))
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", counting)
    assert written_many([(0, 3), (3, 4), (4, 10)]) == b"0123456789"
    assert calls == [3]


def test_write_many_finishes_a_short_writev_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.writev

    def short(fd: int, buffers: Any) -> int:
        # Writes 5 of the 10 bytes: the middle of the second piece, as a signal would leave it.
        return real(fd, [bytes(buffers[0]), bytes(buffers[1])[:2]])

    monkeypatch.setattr(os, "writev", short)
    assert written_many([(0, 3), (3, 7), (7, 10)]) == b"0123456789"


def test_write_many_to_a_buffered_or_text_object_is_one_write() -> None:
    log: List[Tuple[str, bytes]] = []
    Sink(Recorder(log, "x")).write_many([memoryview(b"ab"), memoryview(b"cd")])
    assert log == [("x", b"abcd")]
    text = io.StringIO()
    # A character split between two frames is joined before it is decoded.
    snow = "☃".encode()
    Sink(text).write_many([memoryview(snow[:1]), memoryview(snow[1:] + b"!")])
    assert text.getvalue() == "☃!"


def test_a_slow_sink_holds_the_reader_back() -> None:
    """Coalescing never reads ahead of the sink: while a write blocks, nothing more is read, so
    the engine's flow control holds the container back (memory stays one buffer)."""
    ours, theirs = socket.socketpair()
    entered, release = threading.Event(), threading.Event()
    writes: List[bytes] = []

    class Slow:
        def write(self, data: Any) -> int:
            writes.append(bytes(data))
            entered.set()
            release.wait(10)
            return len(data)

    pump = ConnectionReader(Connection(ours), False, Sink(Slow()), Sink(Slow()))
    th = threading.Thread(target=pump.run, name="test-coalesce-pump")
    th.start()
    try:
        theirs.sendall(frame(1, b"x" * 100))
        assert entered.wait(10)
        # The pump is inside the write: what is sent now stays in the socket, unread.
        theirs.setblocking(False)
        sent = 0
        with pytest.raises(BlockingIOError):
            while True:
                sent += theirs.send(frame(1, b"y" * 65536))
        assert sent > 0 and len(writes) == 1
    finally:
        release.set()
        theirs.shutdown(socket.SHUT_WR)
        th.join(10)
        ours.close()
        theirs.close()
    assert not th.is_alive()


def test_reads_grow_under_a_flood_and_stay_bounded() -> None:
    """A read that fills the 64 KiB buffer moves the output thread to 256 KiB reads, and no
    further: one buffer per session, whatever the flood."""
    from threadpty._pump import BIG_CHUNK
    from threadpty._streams import CHUNK

    ours, theirs = socket.socketpair()
    sizes: List[int] = []

    class Sizes:
        def write(self, data: Any) -> int:
            sizes.append(len(data))
            return len(data)

    payload = frame(1, b"z" * 32768) * 64  # 2 MiB of 32 KiB frames
    sender = threading.Thread(target=theirs.sendall, args=(payload,), name="test-coalesce-flood")
    sender.start()
    pump = ConnectionReader(Connection(ours), False, Sink(Sizes()), Sink(Sizes()))
    th = threading.Thread(target=pump.run, name="test-coalesce-pump")
    th.start()
    sender.join(20)
    theirs.shutdown(socket.SHUT_WR)
    th.join(20)
    ours.close()
    theirs.close()
    assert sum(sizes) == 64 * 32768
    assert max(sizes) > CHUNK, "the reads never grew"
    assert max(sizes) <= BIG_CHUNK
