"""Plain TCP connections, no token needed, thrown at `threadpty web` until it runs out of what
they cost: descriptors, threads, memory. It must keep serving, never exit, and an open terminal
must keep working throughout.

The server runs with a low descriptor limit (set by prlimit as it starts). The floods are
loopback only, bounded in count and in time: connections are opened without waiting for the
server to accept them (the ones it does not take wait in the kernel's backlog) and closed at the
end of each test.
"""

from __future__ import annotations

import errno
import resource
import socket
import time
from typing import Any, Iterator, List

import pytest

from webrig import Reader, WebServer, start

pytest.importorskip("websockets")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MiB = 1 << 20


@pytest.fixture(autouse=True)
def room_for_the_flood() -> Iterator[None]:
    """This process opens the flood's sockets: its own soft limit must allow them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Flood:
    """``count`` connections to the server, opened without waiting; every other one sends the
    start of a request and stops there (slowloris), the rest send nothing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: List[socket.socket] = []

    def add(self, count: int) -> None:
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", self.port))
            assert rc in (0, errno.EINPROGRESS), errno.errorcode.get(rc, rc)
            if i % 2:
                try:
                    s.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                except OSError:
                    pass  # not connected yet (the backlog is full): it stays a bare connection
            self.socks.append(s)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks.clear()


def terminal(server: WebServer) -> Any:
    ws = server.ws()
    start(ws)
    Reader(ws).until(rb"# ")
    return ws


def echoes(ws: Any, word: str, timeout: float = 20) -> None:
    ws.send(f"echo {word[:2]}''{word[2:]}\n".encode())
    Reader(ws).until(word.encode() + rb"\r\n", timeout=timeout)


def serves(server: WebServer) -> None:
    """A new tab opens and answers, within the time the flood's leftovers take to go."""
    with server.ws(open_timeout=60) as ws:
        r = Reader(ws)
        start(ws)
        ws.send(b"echo ne''w; exit 0\n")
        r.until(rb"new\r\n", timeout=60)


def test_out_of_descriptors_it_backs_off_and_serves_on(box: str) -> None:
    # 96 descriptors, all of them: no cap on pending connections short of that.
    server = WebServer("--exec", box, "--max-pending", "1000", nofile=(96, 96))
    flood = Flood(server.port)
    try:
        ws = terminal(server)
        for round in range(6):
            flood.add(100)
            assert server.proc.poll() is None, "the server exited under the flood"
            echoes(ws, f"round{round}")
        deadline = time.monotonic() + 20
        # All of them but the few it keeps free for what a connection needs next.
        while server.descriptors() < 96 - 16 - 8:
            assert server.proc.poll() is None, "the server exited under the flood"
            assert time.monotonic() < deadline, "the flood never reached the descriptor limit"
            time.sleep(0.1)
        echoes(ws, "full")
        flood.close()
        echoes(ws, "after")
        serves(server)
        ws.close()
    finally:
        flood.close()
        status, output = server.stop()
    assert status == 0
    assert b"stopping" in output
    # Said once, not once per failed accept; and nothing else failed for want of descriptors
    # (a connection taken with the last one used to fail in the library's threads, each with a
    # traceback on stderr).
    assert output.count(b"cannot accept connections for now") == 1, output.decode()[-2000:]
    assert b"Traceback" not in output, output.decode()[-3000:]


def test_connections_in_handshake_are_capped_threads_and_memory_bounded(box: str) -> None:
    server = WebServer("--exec", box, nofile=(128, 4096))
    flood = Flood(server.port)
    try:
        # It raised its soft limit to the hard one as it started.
        assert server.nofile() == (4096, 4096)
        ws = terminal(server)
        echoes(ws, "before")
        threads, rss = server.threads(), server.rss()
        most_threads = most_rss = 0
        deadline = time.monotonic() + 12  # past the 5 s handshake timeout: a second wave
        flood.add(1000)
        while time.monotonic() < deadline:
            most_threads = max(most_threads, server.threads())
            most_rss = max(most_rss, server.rss())
            echoes(ws, "during")
            assert server.proc.poll() is None
            time.sleep(0.2)
        print(
            f"\nflood of 1000: threads {threads} -> at most {most_threads}; "
            f"RSS +{(most_rss - rss) / MiB:.1f} MiB at most"
        )
        # Two threads per pending connection (its handler, its reader), 64 at most.
        assert most_threads - threads <= 2 * 64 + 8
        assert most_rss - rss < 32 * MiB
        flood.close()
        serves(server)
        echoes(ws, "after")
        ws.close()
    finally:
        flood.close()
        status, _ = server.stop()
    assert status == 0
