"""Unit tests of the PIPE's buffer (``OutputPipe``) without an engine: what a reader gets, in
which pieces, and how it holds the writer back."""

from __future__ import annotations

import io
import threading
from typing import Callable, List

import pytest

from threadpty._pipes import OutputPipe, reader


def test_read1_hands_over_a_chunk_uncopied_and_joins_waiting_ones() -> None:
    pipe = OutputPipe(1 << 20)
    first = b"x" * 5000
    pipe.put(first)
    assert pipe.read1(1 << 20) is first
    pipe.put(b"ab")
    pipe.put(b"cd")
    pipe.put(b"ef")
    assert pipe.read1(5) == b"abcde"
    assert pipe.read1(5) == b"f"
    pipe.end()
    assert pipe.read1(5) == b""
    assert pipe.read() == b""


def test_read_readline_readinto_and_iteration_cross_chunks() -> None:
    pipe = OutputPipe(1 << 20)
    for piece in (b"one\ntw", b"o\n", b"thr", b"ee\nfour"):
        pipe.put(piece)
    pipe.end()
    assert pipe.readline() == b"one\n"
    assert pipe.readline(2) == b"tw"
    assert pipe.read(4) == b"o\nth"
    buf = bytearray(3)
    assert pipe.readinto(buf) == 3 and bytes(buf) == b"ree"
    assert list(pipe) == [b"\n", b"four"]


def test_text_mode_decodes_characters_split_across_chunks() -> None:
    pipe = OutputPipe(1 << 20)
    data = "héllo\nwörld €\n".encode()
    for i in range(len(data)):
        pipe.put(data[i : i + 1])
    pipe.end()
    text = reader(pipe, True, None, None)
    assert isinstance(text, io.TextIOWrapper)
    assert text.readlines() == ["héllo\n", "wörld €\n"]


def test_a_full_pipe_holds_the_writer_until_the_reader_makes_room() -> None:
    pipe = OutputPipe(10)
    pipe.put(b"0123456789")
    done = threading.Event()

    def write() -> None:
        pipe.put(b"abcdefghij")
        done.set()

    writer = threading.Thread(target=write, name="test-writer")
    writer.start()
    assert not done.wait(0.2)  # held back: the pipe holds 10 bytes at most
    assert pipe.read1(4) == b"0123"
    got: List[bytes] = []
    while len(b"".join(got)) < 16:
        got.append(pipe.read1(100))
    writer.join(10)
    assert done.is_set() and b"".join(got) == b"456789abcdefghij"


def breaks_a_waiting_put(pipe: OutputPipe, data: bytes, action: Callable[[], None]) -> bool:
    """True when ``action`` makes a ``put`` waiting for room in a full pipe raise
    ``BrokenPipeError`` (and the writer's thread end)."""
    errors: List[BaseException] = []

    def write() -> None:
        try:
            pipe.put(data)
        except BrokenPipeError as exc:
            errors.append(exc)

    writer = threading.Thread(target=write, name="test-writer")
    writer.start()
    action()
    writer.join(10)
    return not writer.is_alive() and len(errors) == 1


def test_closing_the_reader_lets_go_of_the_data_and_drops_what_comes_later() -> None:
    # Nobody reads any more: a writer waiting for room goes on (its data dropped), and later
    # output is dropped as it comes, never held, so the session reads on to the command's end.
    pipe = OutputPipe(10)
    pipe.put(b"0123456789")
    writer = threading.Thread(target=pipe.put, args=(b"more",), name="test-writer")
    writer.start()
    pipe.close()
    writer.join(10)
    assert not writer.is_alive()
    with pytest.raises(ValueError):
        pipe.read1(10)
    for _ in range(100):
        pipe.put(b"late" * 1000)
    assert pipe._queue.qsize() <= 1  # the end marker alone: nothing held


def test_abort_wakes_the_writer_and_keeps_what_is_held_readable() -> None:
    pipe = OutputPipe(4)
    pipe.put(b"held")
    assert breaks_a_waiting_put(pipe, b"never", pipe.abort)
    pipe.end()
    assert pipe.read() == b"held"


def test_close_wakes_a_reader_waiting_in_another_thread() -> None:
    pipe = OutputPipe(1 << 20)
    errors: List[BaseException] = []

    def read() -> None:
        try:
            pipe.read1(10)
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=read, name="test-reader")
    thread.start()
    pipe.close()
    thread.join(10)
    assert not thread.is_alive() and len(errors) == 1


def test_reads_of_nothing_return_at_once() -> None:
    # Nothing was put: a read of 0 bytes must not wait for output, as a BufferedReader's does.
    pipe = OutputPipe(1 << 20)
    assert pipe.read1(0) == b"" and pipe.read(0) == b"" and pipe.readline(0) == b""
    pipe.put(b"abc")
    assert pipe.read1(0) == b""
    assert pipe.read1(3) == b"abc"
    pipe.close()
    with pytest.raises(ValueError):
        pipe.read1(0)
