"""The connection lent to a PIPE's reader (threadpty/_pump.py), over a socketpair: no engine.

What must not change when the reader reads the connection itself: bytes in order, stderr
frames to the stderr sink, output nobody reads still filling the pipe so that the session
ends, errors and the end seen by the reader ending the session once, close() at any time.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
import time
from typing import Iterator, Tuple

import pytest

import threadpty
from threadpty._connection import Connection
from threadpty.errors import ProtocolError

from doubles import FakeTarget, frame

pytestmark = pytest.mark.timeout(30)


Pair = Tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    theirs.close()


def read_by_now(theirs: socket.socket) -> None:
    """Wait until our end has read everything ``theirs`` sent, so the next send is a chunk of
    its own (on a unix socket, SIOCOUTQ counts what the peer has not read yet)."""
    deadline = time.monotonic() + 10
    while struct.unpack("i", fcntl.ioctl(theirs, termios.TIOCOUTQ, b"\0" * 4))[0]:
        assert time.monotonic() < deadline, "the reader did not read what was sent"
        time.sleep(0.001)


def session(ours: socket.socket, tty: bool, **options: object) -> threadpty.Session:
    target = FakeTarget(tty=tty)
    s = threadpty.Session(target, sockets=Connection(ours), **options)  # type: ignore[arg-type]
    return s.start()


def leased(s: threadpty.Session, theirs: socket.socket, tty: bool) -> None:
    """Two reads: after the first, which crossed from the output thread, the reader holds the
    lease."""
    for piece in (b"a", b"b"):
        theirs.sendall(piece if tty else frame(1, piece))
        assert s.stdout.read1(10) == piece
    assert s.stdout.lender.owner is s.stdout


def test_reader_is_lent_the_connection_and_keeps_the_order(
    no_thread_left: None, pair: Pair
) -> None:
    ours, theirs = pair
    s = session(ours, True, stdout=threadpty.PIPE)
    pipe = s.stdout
    got = bytearray()
    for i in range(200):
        theirs.sendall(b"%05d;" % i)
        while len(got) < 6 * (i + 1):
            got += pipe.read1(65536)
    # After the first chunk that crossed from the output thread, the reader holds the lease.
    assert pipe.lender.owner is pipe
    theirs.shutdown(socket.SHUT_WR)
    assert pipe.read() == b""
    assert s.join() == 0
    assert bytes(got) == b"".join(b"%05d;" % i for i in range(200))


def test_output_nobody_reads_any_more_still_ends_the_session(
    no_thread_left: None, pair: Pair
) -> None:
    ours, theirs = pair
    s = session(ours, True, stdout=threadpty.PIPE)
    theirs.sendall(b"first")
    assert s.stdout.read1(5) == b"first"
    theirs.sendall(b"x" * 100_000)
    theirs.shutdown(socket.SHUT_WR)
    # The reader holds the lease and does not come back: the output thread takes it back, fills
    # the pipe and sees the end.
    assert s.join(timeout=10) == 0
    assert s.stdout.read() == b"x" * 100_000


def test_stderr_frames_go_to_their_pipe_while_stdout_reads(
    no_thread_left: None, pair: Pair
) -> None:
    ours, theirs = pair
    s = session(ours, False, stdout=threadpty.PIPE, stderr=threadpty.PIPE)
    errs = []
    drain = threading.Thread(target=lambda: errs.append(s.stderr.read()), name="test-stderr")
    drain.start()
    want_out, want_err = bytearray(), bytearray()
    got = bytearray()
    for i in range(30):  # each way of cutting, ten times over
        out, err = b"o%04d" % i, b"e%04d" % i
        want_out += out
        want_err += err
        theirs.sendall(frame(1, out) + frame(2, err))
        while len(got) < len(want_out):
            got += s.stdout.read1(65536)
    theirs.shutdown(socket.SHUT_WR)
    assert s.stdout.read() == b""
    assert s.join() == 0
    drain.join()
    assert bytes(got) == bytes(want_out)
    assert errs == [bytes(want_err)]


def test_close_while_the_reader_waits_on_the_connection(no_thread_left: None, pair: Pair) -> None:
    ours, theirs = pair
    s = session(ours, True, stdout=threadpty.PIPE)
    leased(s, theirs, True)
    result = []
    reader = threading.Thread(target=lambda: result.append(s.stdout.read()), name="test-reader")
    reader.start()
    s.close()
    reader.join(5)
    assert not reader.is_alive()
    assert result == [b""]
    assert s.join() is None


def test_pipe_closed_while_its_reader_waits_on_the_connection(
    no_thread_left: None, pair: Pair
) -> None:
    """Another thread closes the PIPE while its reader, holding the lease, waits in a read of the
    connection: that read ends with the next chunk, the lease goes back, and everything after is
    dropped (far more than the pipe holds), so the session still reads on to its end."""
    ours, theirs = pair
    s = session(ours, True, stdout=threadpty.PIPE, bufsize=1 << 16)
    leased(s, theirs, True)
    outcome = []

    def read() -> None:
        try:
            outcome.append(s.stdout.read())
        except ValueError as exc:  # read of a closed file, as a BufferedReader's would be
            outcome.append(exc)

    reader = threading.Thread(target=read, name="test-reader")
    reader.start()
    deadline = time.monotonic() + 10
    while not s.stdout.reading.locked():  # the reader is in its read, holding the lease
        assert time.monotonic() < deadline, "the reader did not start reading"
        time.sleep(0.001)
    s.stdout.close()
    theirs.sendall(b"x" * (4 << 20))
    theirs.shutdown(socket.SHUT_WR)
    assert s.join(timeout=10) == 0
    reader.join(5)
    assert not reader.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ValueError)
    assert s.stdout.lender.owner is None


def test_merged_frames_read_by_the_reader_itself(no_thread_left: None, pair: Pair) -> None:
    """``stderr=STDOUT`` without a TTY: every payload is the pipe's, in order, whatever way the
    chunks split the frames (a chunk of one header alone, a header cut in two)."""
    ours, theirs = pair
    s = session(ours, False, stdout=threadpty.PIPE, stderr=threadpty.STDOUT)
    theirs.sendall(frame(1, b"a"))
    assert s.stdout.read1(10) == b"a"
    got = bytearray()
    # The reader reads in a thread of its own all along, so it holds the lease while the frames
    # below arrive in pieces, each read before the next is sent.
    reader = threading.Thread(target=lambda: got.extend(s.stdout.read()), name="test-reader")
    reader.start()
    want = bytearray()
    for i in range(30):  # each way of cutting, ten times over
        out, err = b"o%04d" % i, b"e%04d" % i
        want += out + err
        data = frame(1, out) + frame(2, err)
        for cut in ((), (8,), (5, 8, 16))[i % 3]:
            theirs.sendall(data[:cut])
            data = data[cut:]
            read_by_now(theirs)
        theirs.sendall(data)
    theirs.shutdown(socket.SHUT_WR)
    reader.join(10)
    assert not reader.is_alive()
    assert s.join() == 0
    assert bytes(got) == bytes(want)


@pytest.mark.parametrize("merged", [False, True], ids=["stdout-pipe", "stderr-to-stdout"])
def test_an_error_met_by_the_reader_ends_the_session_and_keeps_the_payload(
    no_thread_left: None, pair: Pair, merged: bool
) -> None:
    """A bad frame after a payload, in one chunk the reader reads itself: the payload is read,
    then the end, and join() raises the error (the sorting path and the merged one)."""
    ours, theirs = pair
    merge = {"stderr": threadpty.STDOUT} if merged else {}
    s = session(ours, False, stdout=threadpty.PIPE, **merge)
    leased(s, theirs, False)
    theirs.sendall(frame(1, b"last") + b"\x09\0\0\0\0\0\0\1x")  # then stream id 9
    assert s.stdout.read() == b"last"
    with pytest.raises(ProtocolError):
        s.join()


def test_small_reads_of_a_chunk_the_reader_read_itself(no_thread_left: None, pair: Pair) -> None:
    ours, theirs = pair
    s = session(ours, True, stdout=threadpty.PIPE)
    leased(s, theirs, True)
    theirs.sendall(bytes(range(100)))
    got = bytearray()
    while len(got) < 100:
        piece = s.stdout.read1(7)
        assert 0 < len(piece) <= 7
        got += piece
    assert bytes(got) == bytes(range(100))
    theirs.shutdown(socket.SHUT_WR)
    assert s.stdout.read() == b""
    assert s.join() == 0
