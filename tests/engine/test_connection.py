"""The hijacked connection: bytes that came in with the HTTP headers are handed out at once.

The SDK's HTTP response reads the headers through a buffered reader, and whatever the engine sent
in the same packets (the replayed logs of an attach, a first prompt) stays in that reader's buffer.
``BufferedReader.readinto1`` with a larger buffer copies those bytes and then blocks in a read of
the socket, so they reached the session only when the container printed again.
"""

from __future__ import annotations

import io
import socket
import threading
from typing import Any, Callable, Iterator, List

import pytest

import threadpty
from threadpty._connection import Connection

from doubles import (
    ClosedPipe,
    EndedPipe,
    FakeNpipeFileIO,
    FakeNpipeSocket,
    FakeResponse,
)

pytestmark = [pytest.mark.usefixtures("no_thread_left"), pytest.mark.timeout(60)]


class LineCatcher:
    """A stdout object that sets an event when ``line`` has arrived."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.data = b""
        self.arrived = threading.Event()

    def write(self, data: Any) -> None:
        self.data += bytes(data)
        if self.line in self.data:
            self.arrived.set()

    def flush(self) -> None:
        pass


@pytest.mark.integration
@pytest.mark.parametrize("tty", [False, True], ids=["frames", "tty"])
def test_replayed_logs_of_an_idle_container_arrive(
    client: Any, make_container: Callable[..., str], tty: bool
) -> None:
    cid = make_container(["sh", "-c", "echo replayed-line; exec sleep 3600"], tty=tty, start=True)
    # The line is in the container's log before any attach (an event, not a sleep).
    # With a TTY the SDK streams the log as text, a character at a time.
    seen = b""
    for chunk in client.logs(cid, stream=True, follow=True):
        seen += chunk.encode() if isinstance(chunk, str) else chunk
        if b"replayed-line" in seen:
            break
    missed = 0
    for _ in range(7):
        sink = LineCatcher(b"replayed-line")
        session = threadpty.Session.run(client, cid, logs=True, interactive=False, stdout=sink)
        session.start()
        try:
            # The container prints nothing more: only bytes already sent can satisfy this.
            if not sink.arrived.wait(3):
                missed += 1
        finally:
            session.close()
    assert missed == 0, f"the replayed line did not arrive in {missed} of 7 attaches"


# The same on a socketpair: the engine's side is played by the test. ----------------------------


@pytest.fixture
def hijacked() -> Iterator[List[Any]]:
    """(our SocketIO, the engine's socket, Connection) after an HTTP 101 read as the SDK does."""
    ours, engine = socket.socketpair()
    fp = ours.makefile("rb")
    # Headers and the first output in one send, as the engine does when it has logs to replay.
    engine.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\nfirst-output\n")
    while fp.readline() not in (b"\r\n", b""):
        pass
    conn = Connection(fp.raw, FakeResponse(fp))
    try:
        yield [fp.raw, engine, conn]
    finally:
        conn.close()
        engine.close()
        ours.close()


def read_soon(conn: Connection, size: int, how: str = "readinto") -> bytes:
    """One ``readinto`` (or ``read``) of ``size`` bytes, which must return within a few seconds."""
    got: List[bytes] = []
    done = threading.Event()

    def read() -> None:
        if how == "read":
            got.append(conn.read(size))
        else:
            buf = bytearray(size)
            n = conn.readinto(memoryview(buf))
            got.append(bytes(buf[:n]))
        done.set()

    t = threading.Thread(target=read, name="threadpty-test-reader", daemon=True)
    t.start()
    arrived = done.wait(5)
    if not arrived:
        conn.abort()  # wake the reader, so the failure is reported and no thread is left
    t.join(5)
    assert arrived, "the read waited for more input from the engine"
    return got[0]


@pytest.mark.parametrize("how", ["readinto", "read"])
@pytest.mark.parametrize("size", [65536, 8192, 5], ids=["larger", "same", "smaller"])
def test_header_leftovers_without_more_input(hijacked: List[Any], size: int, how: str) -> None:
    _, engine, conn = hijacked
    want = b"first-output\n"
    got = b""
    while len(got) < len(want):
        got += read_soon(conn, size, how)
    assert got == want
    # After the leftovers, the socket itself: later output and the end of the stream.
    engine.sendall(b"later\n")
    assert read_soon(conn, 65536, how) == b"later\n"
    engine.shutdown(socket.SHUT_WR)
    assert read_soon(conn, 65536, how) == b""


def test_abort_wakes_a_reader(hijacked: List[Any]) -> None:
    _, _, conn = hijacked
    assert read_soon(conn, 65536) == b"first-output\n"
    got: List[int] = []
    reader = threading.Thread(
        target=lambda: got.append(conn.readinto(memoryview(bytearray(65536)))),
        name="threadpty-test-reader",
    )
    reader.start()
    conn.abort()
    reader.join(5)
    assert not reader.is_alive() and got == [0]


def test_close_write_half_closes_a_plain_socket(hijacked: List[Any]) -> None:
    _, engine, conn = hijacked
    conn.sendall(b"input")
    assert conn.close_write() is True
    got = b""
    while True:
        data = engine.recv(100)
        if not data:
            break
        got += data
    assert got == b"input"
    # The read side stays open.
    engine.sendall(b"after\n")
    buf = bytearray(65536)
    data = b""
    while b"after\n" not in data:
        n = conn.readinto(memoryview(buf))
        assert n
        data += bytes(buf[:n])
    assert data == b"first-output\nafter\n"


# A Windows named pipe, played by a socketpair behind NpipeSocket's interface. -------------------


@pytest.mark.parametrize("how", ["readinto", "read"])
def test_named_pipe_header_leftovers(how: str) -> None:
    ours, engine = socket.socketpair()
    pipe = FakeNpipeSocket(ours)
    # As NpipeSocket.makefile() builds it; the SDK hands out response.raw._fp.fp.raw.sock.
    fp = io.BufferedReader(FakeNpipeFileIO(pipe))
    engine.sendall(b"HTTP/1.1 101 UPGRADED\r\n\r\nfirst-output\n")
    while fp.readline() not in (b"\r\n", b""):
        pass
    conn = Connection(pipe, FakeResponse(fp))
    try:
        assert read_soon(conn, 65536, how) == b"first-output\n"
        assert conn.close_write() is False  # a pipe cannot half-close: input is left open
        engine.sendall(b"later\n")
        assert read_soon(conn, 65536, how) == b"later\n"
    finally:
        conn.close()
        engine.close()


def test_named_pipe_errors_are_the_end_of_stream() -> None:
    ours, engine = socket.socketpair()
    try:
        ended = Connection(EndedPipe(ours))
        # docker-py reads "the pipe has been ended" as the end of stream; so does the session.
        assert ended.readinto(memoryview(bytearray(10))) == 0
        assert ended.read(10) == b""
        with pytest.raises(BrokenPipeError):
            ended.sendall(b"x")
        closed = Connection(ClosedPipe(ours))
        closed.abort()
        assert closed.readinto(memoryview(bytearray(10))) == 0
        assert closed.read(10) == b""
    finally:
        ours.close()
        engine.close()
