"""Unit tests of the frame parser and of dockerpty's Stream/Demuxer, over in-memory streams."""

from __future__ import annotations

import io

import pytest

from threadpty import Demuxer, ProtocolError, Stream
from threadpty._frames import FrameParser
from threadpty.errors import EngineError

from doubles import Trickle, frame

FRAMES = [(1, b"hello "), (2, b"oops\n"), (1, b""), (0, b"zero"), (1, b"world\n"), (2, b"x" * 300)]
WIRE = b"".join(frame(s, p) for s, p in FRAMES)


def expected() -> dict:
    out = {1: b"", 2: b""}
    for s, p in FRAMES:
        out[1 if s in (0, 1) else 2] += p
    return out


def collect(chunks: list) -> dict:
    parser = FrameParser()
    out = {1: b"", 2: b""}
    for chunk in chunks:
        for stream, piece in parser.feed(memoryview(chunk)):
            out[stream] += bytes(piece)
    parser.close()
    return out


def test_whole_stream_in_one_chunk() -> None:
    assert collect([WIRE]) == expected()


@pytest.mark.parametrize("cut", range(len(WIRE) + 1))
def test_split_at_every_boundary(cut: int) -> None:
    assert collect([WIRE[:cut], WIRE[cut:]]) == expected()


def test_one_byte_at_a_time() -> None:
    assert collect([WIRE[i : i + 1] for i in range(len(WIRE))]) == expected()


def test_order_kept_across_streams() -> None:
    parser = FrameParser()
    seen = [(s, bytes(p)) for s, p in parser.feed(memoryview(WIRE)) if p]
    assert seen == [(1 if s == 0 else s, p) for s, p in FRAMES if p]


@pytest.mark.parametrize("cut", range(1, 8))
def test_truncated_header_at_eof(cut: int) -> None:
    parser = FrameParser()
    list(parser.feed(memoryview(frame(1, b"ok") + frame(1, b"next")[:cut])))
    with pytest.raises(ProtocolError, match="header"):
        parser.close()


def test_truncated_payload_at_eof() -> None:
    parser = FrameParser()
    list(parser.feed(memoryview(frame(1, b"abcdef")[:-2])))
    with pytest.raises(ProtocolError, match="short"):
        parser.close()


def test_unknown_stream_id() -> None:
    with pytest.raises(ProtocolError, match="stream id 7"):
        list(FrameParser().feed(memoryview(frame(7, b"x"))))


def test_system_error_stream() -> None:
    with pytest.raises(EngineError, match="boom"):
        list(FrameParser().feed(memoryview(frame(3, b"boom"))))


def test_payload_is_not_copied_into_whole_frames() -> None:
    big = b"y" * 100_000
    parser = FrameParser()
    wire = frame(1, big)
    pieces = []
    for start in range(0, len(wire), 65536):
        pieces += [bytes(p) for _, p in parser.feed(memoryview(wire[start : start + 65536]))]
    assert len(pieces) == 2 and b"".join(pieces) == big


# dockerpty's Stream and Demuxer -------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 3, 7, 8, 9, 64, 10_000])
def test_demuxer_reads_payloads_in_order(step: int) -> None:
    demuxer = Demuxer(Stream(Trickle(WIRE, step)))
    got = b""
    while True:
        data = demuxer.read(5)
        if not data:
            break
        assert len(data) <= 5
        got += data
    assert got == b"".join(p for _, p in FRAMES)


def test_demuxer_read_frame_keeps_stream_ids() -> None:
    demuxer = Demuxer(Stream(io.BytesIO(WIRE)))
    frames = []
    while (f := demuxer.read_frame(1000)) is not None:
        frames.append(f)
    assert frames == [(1 if s == 0 else s, p) for s, p in FRAMES if p]


def test_stream_write_and_close() -> None:
    sink = io.BytesIO()
    stream = Stream(sink)
    assert stream.write(b"abc") == 3
    assert stream.write(b"") is None
    assert not stream.needs_write()
    assert sink.getvalue() == b"abc"
    stream.close()
    assert stream.closed and sink.closed


def test_stream_read_from_text_object() -> None:
    assert Stream(io.StringIO("é")).read() == "é".encode()


def test_stream_recoverable_errnos() -> None:
    import errno

    assert Stream.ERRNO_RECOVERABLE == [errno.EINTR, errno.EDEADLK, errno.EWOULDBLOCK]


def test_demuxer_hands_out_data_before_a_bad_frame() -> None:
    """Found by fuzzing: payload read in the same chunk as an engine-error frame came after it."""
    from threadpty import EngineError

    demuxer = Demuxer(Stream(Trickle(frame(0, b"ab") + frame(3, b""), 9)))
    got = b""
    with pytest.raises(EngineError):
        while True:
            data = demuxer.read(9)
            assert data, "the stream must end with the engine's error, not a plain end"
            got += data
    assert got == b"ab"
