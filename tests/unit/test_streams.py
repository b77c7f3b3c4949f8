"""Unit tests of the sinks and sources that adapt the caller's objects."""

from __future__ import annotations

import io
import os
import pathlib
import sys
import threading
from typing import Any

from threadpty._streams import FILE_CHUNK, Sink, Source


def test_text_sink_never_splits_a_character() -> None:
    out = io.StringIO()
    sink = Sink(out)
    data = "héllo wörld €".encode()
    for i in range(len(data)):
        sink.write(data[i : i + 1])
    sink.finish()
    assert out.getvalue() == "héllo wörld €"


def test_text_sink_with_buffer_writes_bytes_through() -> None:
    raw = io.BytesIO()
    wrapper = io.TextIOWrapper(raw, encoding="utf-8")
    wrapper.write("first ")
    sink = Sink(wrapper)
    sink.write(b"\xc3")
    sink.write(b"\xa9")
    assert raw.getvalue() == "first é".encode()


def test_text_sink_writes_bytes_through_only_where_the_text_layer_changes_nothing() -> None:
    """The buffer is written directly only where the text layer would write the same bytes: no
    newline translation, UTF-8 without a BOM, a plain TextIOWrapper."""

    def through(newline: Any = None, encoding: str = "utf-8", cls: Any = io.TextIOWrapper) -> bool:
        wrapper = cls(io.BufferedWriter(io.BytesIO()), encoding=encoding, newline=newline)
        return Sink(wrapper)._target is wrapper.buffer

    assert through(None) is (os.linesep == "\n")
    assert through("") and through("\n")
    assert not through("\r") and not through("\r\n")
    assert not through(encoding="utf-8-sig") and not through(encoding="latin-1")

    class Shouting(io.TextIOWrapper):
        def write(self, text: str) -> int:
            return super().write(text.upper())

    assert not through(cls=Shouting)
    assert sys.__stdout__ is not None
    assert Sink(sys.__stdout__)._target is sys.__stdout__.buffer


def test_binary_sink_writes_memoryviews() -> None:
    out = io.BytesIO()
    sink = Sink(out)
    buf = bytearray(b"abcdef")
    sink.write(memoryview(buf)[:3])
    buf[:3] = b"xyz"  # the sink must not keep a view of a buffer that is reused
    assert out.getvalue() == b"abc"


def test_source_reads_bytes_and_text_objects() -> None:
    assert Source(io.BytesIO(b"abc")).read() == b"abc"
    assert Source(io.StringIO("é")).read() == "é".encode()
    assert Source(io.BytesIO(b"")).read() == b""


def test_source_stop_wakes_a_reader_blocked_on_a_descriptor() -> None:
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb", buffering=0, closefd=False) as f:
            source = Source(f)
            got: list = []
            t = threading.Thread(target=lambda: got.append(source.read()))
            t.start()
            source.stop()
            t.join(timeout=5)
            assert not t.is_alive() and got == [b""]
            # The byte written after the stop is still there for the next reader.
            os.write(w, b"k")
            assert os.read(r, 1) == b"k"
            source.close()
    finally:
        os.close(r)
        os.close(w)


def test_source_reads_a_regular_file_in_large_pieces_and_stops_between_them(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "input"
    path.write_bytes(os.urandom(3 << 20) + b"tail")
    fds_before = len(os.listdir("/proc/self/fd"))
    with open(path, "rb", buffering=0) as f:
        source = Source(f)
        # A file never blocks: no wake-up pipe to wait on, and 1 MiB per read, not 64 KiB.
        assert len(os.listdir("/proc/self/fd")) == fds_before + 1
        assert len(source.read()) == FILE_CHUNK
        source.stop()
        assert source.read() == b""
        source.close()
