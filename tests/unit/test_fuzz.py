"""Hypothesis fuzzing of the frame parser, dockerpty's Demuxer, and a whole Session's output thread.

Whatever bytes arrive and however they are split, the outcome is the same: the payloads of the
well-formed frames in order, then either a clean end, a ``ProtocolError`` or an ``EngineError``.
Never another exception, never a hang.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
from typing import List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import threadpty
from threadpty import Demuxer, EngineError, ProtocolError, Stream
from threadpty._connection import Connection
from threadpty._frames import FrameParser

from doubles import FakeTarget, Trickle, frame

FUZZ = settings(
    max_examples=int(os.environ.get("THREADPTY_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def split(data: bytes, cuts: List[int]) -> List[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


Outcome = Tuple[bytes, bytes, Optional[type], str]


def parse(chunks: List[bytes]) -> Outcome:
    """What the parser makes of ``chunks``: stdout, stderr, the error type (or None), its text."""
    parser = FrameParser()
    out = {1: bytearray(), 2: bytearray()}
    try:
        for chunk in chunks:
            for stream, piece in parser.feed(memoryview(chunk)):
                assert stream in (1, 2)
                out[stream] += piece
        parser.close()
    except (ProtocolError, EngineError) as exc:
        return bytes(out[1]), bytes(out[2]), type(exc), str(exc)
    return bytes(out[1]), bytes(out[2]), None, ""


def reference(data: bytes) -> Outcome:
    """A plain, whole-buffer reading of Docker's framing, to compare the incremental parser to."""
    out = {1: bytearray(), 2: bytearray()}
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            return bytes(out[1]), bytes(out[2]), ProtocolError, "header"
        sid, length = struct.unpack_from(">BxxxL", data, pos)
        pos += 8
        if sid not in (0, 1, 2, 3):
            return bytes(out[1]), bytes(out[2]), ProtocolError, "stream id"
        payload = data[pos : pos + length]
        if sid == 3:
            if len(payload) < length:
                return bytes(out[1]), bytes(out[2]), ProtocolError, "short"
            return bytes(out[1]), bytes(out[2]), EngineError, "engine"
        out[2 if sid == 2 else 1] += payload
        if len(payload) < length:
            return bytes(out[1]), bytes(out[2]), ProtocolError, "short"
        pos += length
    return bytes(out[1]), bytes(out[2]), None, ""


good_frames = st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.binary(max_size=300)), max_size=20)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)
# Mostly frame-shaped garbage: real headers with bogus ids and lengths, and random bytes.
noise = st.lists(
    st.one_of(
        st.builds(frame, st.integers(0, 255), st.binary(max_size=64)),
        st.builds(
            lambda sid, n, body: struct.pack(">BxxxL", sid, n) + body,
            st.integers(0, 255),
            st.integers(0, 2**32 - 1),
            st.binary(max_size=64),
        ),
        st.binary(max_size=40),
    ),
    max_size=12,
).map(b"".join)


@pytest.mark.slow
@FUZZ
@given(good_frames, cuts)
def test_valid_stream_any_split_gives_the_payloads(frames: list, where: List[int]) -> None:
    wire = b"".join(frame(s, p) for s, p in frames)
    got = parse(split(wire, where))
    want_out = b"".join(p for s, p in frames if s in (0, 1))
    want_err = b"".join(p for s, p in frames if s == 2)
    assert got == (want_out, want_err, None, "")


@pytest.mark.slow
@FUZZ
@given(noise, cuts)
def test_malformed_stream_any_split_same_outcome(data: bytes, where: List[int]) -> None:
    whole = parse([data])
    pieces = parse(split(data, where))
    bytewise = parse([data[i : i + 1] for i in range(len(data))])
    assert pieces == whole == bytewise
    out, err, kind, message = whole
    ref_out, ref_err, ref_kind, ref_word = reference(data)
    assert (out, err, kind) == (ref_out, ref_err, ref_kind)
    assert ref_word in message


@pytest.mark.slow
@FUZZ
@given(good_frames, st.integers(min_value=1, max_value=2**32 - 1), st.binary(max_size=50), cuts)
def test_length_past_eof_is_a_protocol_error(
    frames: list, length: int, body: bytes, where: List[int]
) -> None:
    body = body[: max(0, length - 1)]  # always fewer bytes than the header promises
    wire = b"".join(frame(s, p) for s, p in frames) + struct.pack(">BxxxL", 1, length) + body
    out, _, kind, message = parse(split(wire, where))
    assert kind is ProtocolError and "short" in message
    assert out.endswith(body)


@pytest.mark.slow
@FUZZ
@given(noise, st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=5000))
def test_demuxer_ends_or_raises_a_threadpty_error(data: bytes, step: int, n: int) -> None:
    demuxer = Demuxer(Stream(Trickle(data, step)))
    got = bytearray()
    # Every read moves at least one byte or ends: a bound on the loop proves there is no spin.
    for _ in range(len(data) + 10):
        try:
            piece = demuxer.read(n)
        except (ProtocolError, EngineError) as exc:
            kind: Optional[type] = type(exc)
            break
        if not piece:
            kind = None
            break
        assert len(piece) <= n
        got += piece
    else:
        pytest.fail("the demuxer kept returning data past the end of its input")
    ref_out, ref_err, ref_kind, _ = reference(data)
    assert kind is ref_kind
    # dockerpty's read() gives stdout and stderr payloads interleaved in arrival order.
    assert sorted(got) == sorted(ref_out + ref_err)


# A whole session over a socketpair: the real output thread, the real Connection. -------------


@pytest.mark.slow
@pytest.mark.timeout(600)
@settings(FUZZ, max_examples=min(FUZZ.max_examples, 100))
@given(noise, cuts)
def test_session_over_malformed_stream_ends(data: bytes, where: List[int]) -> None:
    before = set(threading.enumerate())
    ours, theirs = socket.socketpair()
    out, err = io.BytesIO(), io.BytesIO()
    target = FakeTarget()
    assert isinstance(target, threadpty.Target)
    session = threadpty.Session(target, sockets=Connection(ours), stdout=out, stderr=err)
    session.start()
    try:
        try:
            for piece in split(data, where):
                if piece:
                    theirs.sendall(piece)
            theirs.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the session already ended on an error and closed its side
        error: Optional[BaseException] = None
        try:
            code = session.join(timeout=10)
        except (ProtocolError, EngineError) as exc:
            code, error = None, exc
        assert not session.running, "the session did not end after its stream ended"
    finally:
        session.close()
        theirs.close()
    ref_out, ref_err, ref_kind, _ = reference(data)
    assert (type(error) if error else None) is ref_kind
    if ref_kind is None:
        assert code == 0
    assert out.getvalue() == ref_out and err.getvalue() == ref_err
    assert ours.fileno() == -1, "the session did not close its connection"
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left
