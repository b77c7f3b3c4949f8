"""`threadpty web`'s WebSocket connection (web/_websocket.py), with no engine: the library's client
protocol writes frames into one end of a socket pair, the server's connection reads the other.

A keystroke's frame is taken without the protocol's parser; everything else must still reach the
protocol whole and in order (text, larger and split frames, fragments, pings), and what the
protocol refuses must still end the connection.
"""

from __future__ import annotations

import socket
import threading
from typing import Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("websockets")

from websockets.client import ClientProtocol  # noqa: E402
from websockets.frames import Opcode  # noqa: E402
from websockets.protocol import OPEN  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

from threadpty.web._protocol import MAX_MESSAGE  # noqa: E402
from threadpty.web._websocket import WebSocket  # noqa: E402

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def pair() -> Iterator[Tuple[WebSocket, ClientProtocol, socket.socket]]:
    ours, theirs = socket.socketpair()
    ws = WebSocket(ours, ServerProtocol(state=OPEN, max_size=MAX_MESSAGE))
    client = ClientProtocol(parse_uri("ws://localhost/ws"), state=OPEN)
    yield ws, client, theirs
    ours.close()
    theirs.close()


def flush(client: ClientProtocol, sock: socket.socket) -> None:
    sock.sendall(b"".join(client.data_to_send()))


def frames_from(sock: socket.socket, client: ClientProtocol, count: int) -> List[object]:
    got: List[object] = []
    while len(got) < count:
        data = sock.recv(1 << 20)
        assert data, "the server closed the connection"
        client.receive_data(data)
        got.extend(client.events_received())
    return got


def test_keystrokes_and_everything_else_arrive_whole_and_in_order(
    pair: Tuple[WebSocket, ClientProtocol, socket.socket],
) -> None:
    ws, client, sock = pair
    for key in (b"a", b"b", b"\x1b[A"):
        client.send_binary(key)
    client.send_text(b'{"type":"pause"}')
    client.send_ping(b"are you there")
    client.send_binary(b"p" * 300)  # a paste's piece: the protocol's
    client.send_text(b"frag", fin=False)
    client.send_continuation(b"mented", fin=True)
    client.send_binary(b"z")
    flush(client, sock)
    got = [ws.recv() for _ in range(7)]
    assert got == [b"a", b"b", b"\x1b[A", '{"type":"pause"}', b"p" * 300, "fragmented", b"z"]
    (pong,) = frames_from(sock, client, 1)
    assert getattr(pong, "opcode", None) is Opcode.PONG


def test_a_keystroke_split_across_reads_is_read_whole(
    pair: Tuple[WebSocket, ClientProtocol, socket.socket],
) -> None:
    ws, client, sock = pair
    client.send_binary(b"q")
    frame = b"".join(client.data_to_send())
    sock.sendall(frame[:3])
    got: List[Optional[object]] = []
    reader = threading.Thread(target=lambda: got.append(ws.recv()), name="test-reader")
    reader.start()
    reader.join(0.2)
    assert not got  # nothing whole yet
    sock.sendall(frame[3:])
    reader.join(10)
    assert got == [b"q"]


@pytest.mark.parametrize(
    "raw", [b"\x82\x01a", b"\x81\x82abcd" + bytes(b ^ m for b, m in zip(b"\xff\xfe", b"ab"))]
)
def test_what_the_protocol_refuses_ends_the_connection(
    pair: Tuple[WebSocket, ClientProtocol, socket.socket], raw: bytes
) -> None:
    # An unmasked frame from a client; a text frame that is not UTF-8.
    ws, _, sock = pair
    sock.sendall(raw)
    assert ws.recv() is None
    assert not ws.open


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_sent_frames_are_read_by_a_client(
    pair: Tuple[WebSocket, ClientProtocol, socket.socket], size: int
) -> None:
    ws, client, sock = pair
    data = bytes(range(256)) * (size // 256 + 1)
    sender = threading.Thread(target=ws.send, args=(memoryview(data)[:size],), name="test-sender")
    sender.start()
    (frame,) = frames_from(sock, client, 1)
    sender.join(10)
    assert getattr(frame, "opcode", None) is Opcode.BINARY
    assert bytes(getattr(frame, "data", b"")) == data[:size]


def test_frames_sent_behind_the_request_are_kept() -> None:
    ours, theirs = socket.socketpair()
    try:
        ws = WebSocket(ours, ServerProtocol(max_size=MAX_MESSAGE))
        client = ClientProtocol(parse_uri("ws://localhost/ws"))
        client.send_request(client.connect())
        # A keystroke, masked as a client's must be, in the same write as the request.
        frame = b"\x82\x81" + b"mask" + bytes([ord("k") ^ ord("m")])
        theirs.sendall(b"".join(client.data_to_send()) + frame)
        assert ws.handshake(lambda _ws, _request: None, 10, lambda: False)
        assert ws.recv() == b"k"
    finally:
        ours.close()
        theirs.close()


def _finish_within(ws: WebSocket, peer: socket.socket, bound: float) -> bytes:
    done = threading.Event()

    def finish() -> None:
        ws.finish()
        done.set()

    finisher = threading.Thread(target=finish, name="test-finish")
    finisher.start()
    # The peer never closes its end: finish must not wait for it.
    assert done.wait(bound), f"finish waited more than {bound} s for a connection never upgraded"
    finisher.join(5)
    peer.settimeout(5)
    got = b""
    while True:  # what was answered, then the connection's end
        data = peer.recv(65536)
        if not data:
            return got
        got += data


def test_a_silent_connection_is_closed_at_its_handshake_timeout() -> None:
    # A flood of idle connections each holds a --max-pending place until closed: nothing was
    # asked, so nothing is waited for past the handshake's time.
    ours, theirs = socket.socketpair()
    with theirs:
        ws = WebSocket(ours, ServerProtocol(max_size=MAX_MESSAGE))
        assert not ws.handshake(lambda ws, request: None, 0.2, lambda: False)
        assert _finish_within(ws, theirs, 1.0) == b""


def test_an_answered_request_is_not_held_for_its_client_to_close() -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        ws = WebSocket(ours, ServerProtocol(max_size=MAX_MESSAGE))
        theirs.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")

        def answer(ws: WebSocket, request: object) -> object:
            return ws.protocol.reject(404, "no\n")

        assert not ws.handshake(answer, 5.0, lambda: False)  # type: ignore[arg-type]
        assert _finish_within(ws, theirs, 2.5).startswith(b"HTTP/1.1 404 ")
