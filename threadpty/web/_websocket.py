"""One WebSocket connection: the ``websockets`` library's sans-I/O ``ServerProtocol`` (its
handshake, its frame parsing and limits, its closing handshake) driven by threads of our own.

The thread that reads the socket (the connection's thread: :meth:`WebSocket.handshake`, then
:meth:`WebSocket.recv`) is the only reader; it parses frames as they arrive and hands each message
to its caller, with nothing queued between. Any thread may send: :meth:`WebSocket.send` writes
straight to the socket, blocking while the page does not read. One lock serialises the protocol's
state and the writes, so frames never interleave. Pings and the closing handshake's deadline are
driven from outside (the server's watch thread: :meth:`ping_now`, :meth:`overdue`), without
waiting, so no connection needs a thread of its own for them.

Over HTTPS the bytes go through a ``_tls.TLSStream`` instead of straight to the socket, its
handshake first, within the request's timeout; the calls made of it are the socket's own.
"""

from __future__ import annotations

import http
import logging
import socket
import struct
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Union

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN
from websockets.server import ServerProtocol

from ._tls import TLSStream

try:
    from websockets.speedups import apply_mask
except ImportError:  # built without its C extension
    from websockets.utils import apply_mask

log = logging.getLogger("threadpty.web")

# How long the other side has to answer our close (and to close its end) before it is cut.
CLOSE_TIMEOUT = 10.0
# A connection never upgraded, once answered: long enough for a client that reads its answer to
# close first (our close then sends no reset over anything it still sends), short enough that a
# flood of them does not hold the --max-pending places.
ANSWERED_LINGER = 1.0
# Keepalive: a ping this often on an idle connection; no pong this long after it cuts it.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
# What a read asks for: the buffer is allocated before the read blocks, so a tab that waits for
# its next keystroke would hold the larger one all the while; it is taken only while reads come
# back full (a paste).
RECV_SMALL = 4096
RECV_BUFSIZE = 65536
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_SENDMSG = hasattr(socket.socket, "sendmsg")

Message = Union[str, bytes]


class Closed(Exception):
    """The connection is closing or closed: nothing more goes through it."""


class WebSocket:
    """A server-side connection; see the module's text for who calls what."""

    def __init__(
        self, sock: socket.socket, protocol: ServerProtocol, tls: Optional[TLSStream] = None
    ) -> None:
        # Timeouts, shutdown and close are the socket's; its bytes go through TLS when given.
        self.socket = sock
        self.tls = tls
        self._io: Union[socket.socket, TLSStream] = sock if tls is None else tls
        self.protocol = protocol
        self.request: Optional[Request] = None
        # Whatever process_request wants to keep for the connection (the /ws URL's target).
        self.target: Any = None
        # The protocol's state and every write to the socket: a frame is written whole, in order.
        self._lock = threading.Lock()
        # Bytes of a frame a ping left half sent: the next write sends them first.
        self._unsent = b""
        self._messages: Deque[Message] = deque()
        self._fragments: List[bytes] = []
        self._fragmented_text = False
        self._reading = True
        self._recv_size = RECV_SMALL
        # The protocol's own buffer of bytes not yet parsed: where it is empty, the protocol is at
        # a frame's start, and a keystroke's frame may be taken without it (see _take_keystrokes).
        reader = getattr(protocol, "reader", None)
        self._parsing: Optional[bytearray] = getattr(reader, "buffer", None)
        if not isinstance(self._parsing, bytearray):
            self._parsing = None
        self.close_deadline: Optional[float] = None
        self._next_ping = time.monotonic() + PING_INTERVAL
        self._pong_deadline: Optional[float] = None
        self._ping_data = b""

    @property
    def subprotocol(self) -> Optional[str]:
        return self.protocol.subprotocol

    @property
    def open(self) -> bool:
        return self.protocol.state is OPEN

    # The opening handshake (the connection's thread) ---------------------------------------

    def handshake(
        self,
        process_request: Callable[["WebSocket", Request], Optional[Response]],
        timeout: float,
        refuse_upgrades: Callable[[], bool],
    ) -> bool:
        """Read the request (``timeout`` seconds at most, TLS's handshake included), answer it;
        True once upgraded.

        ``process_request`` answers it with a response of its own (a page, a refusal) or None
        to go on with the upgrade, which the protocol then checks (a bad one is answered with a
        4xx by the library). While ``refuse_upgrades()`` an upgrade is answered 503 instead.
        """
        protocol = self.protocol
        deadline = time.monotonic() + timeout
        # Frames a client sent right behind its request, not waiting for the answer: kept for
        # after the upgrade.
        early: List[Frame] = []
        try:
            if self.tls is not None:
                self.tls.handshake(deadline)
            while self.request is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.socket.settimeout(left)
                data = self._io.recv(RECV_BUFSIZE)
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                for event in protocol.events_received():
                    if isinstance(event, Request):
                        self.request = event
                    elif isinstance(event, Frame):
                        early.append(event)
                if self.request is None and (not data or protocol.close_expected()):
                    # Not a request the library could read: it has answered it, or not.
                    with self._lock:
                        self._write()
                    return False
            self.socket.settimeout(None)
        except OSError:  # the time is up (socket.timeout is one), or the connection went
            return False
        try:
            response = process_request(self, self.request)
        except Exception:  # noqa: BLE001 - a bug of ours: a 500, and the log says what
            log.exception("answering a request failed")
            response = protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n")
        if response is None:
            response = protocol.accept(self.request)
            if response.status_code == 101 and refuse_upgrades():
                response = protocol.reject(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping\n"
                )
        # A response whose body is a file (a recording) sends it from the file, between its
        # headers and the end of the connection (see _pages.FileResponse).
        body: Optional[Any] = getattr(response, "file", None)
        size: int = getattr(response, "size", 0)
        try:
            with self._lock:
                protocol.send_response(response)
                if body is None:
                    self._write()
                else:
                    # The size its Content-Length gave: a recording may grow meanwhile.
                    self._write(lambda: size and self.socket.sendfile(body, 0, size))
        except OSError:
            return False
        finally:
            if body is not None:
                body.close()
        if protocol.state is not OPEN:
            return False
        for frame in early:
            self._frame(frame)
        return True

    # Reading (the connection's thread only) --------------------------------------------------

    def recv(self) -> Optional[Message]:
        """The next message (text as str, binary as bytes); None once the connection closes.

        Blocks until one arrives; raises ``OSError`` (``socket.timeout``) when the socket has a
        timeout that passes. Control frames are answered as they come (the library queues a pong
        for a ping, the close reply for a close).
        """
        messages = self._messages
        while not messages:
            if not self._reading:
                return None
            try:
                data = self._io.recv(self._recv_size)
            except (socket.timeout, TimeoutError):
                raise
            except OSError:
                data = b""
            self._recv_size = RECV_BUFSIZE if len(data) == self._recv_size else RECV_SMALL
            if data and self._parsing is not None and not self._parsing and not self._fragments:
                data = self._take_keystrokes(data)
                if not data:
                    continue
            self._receive(data)
        return messages.popleft()

    def _take_keystrokes(self, data: bytes) -> bytes:
        """Take the small binary frames at the start of ``data`` (keystrokes) as messages, without
        the protocol; return the rest, for it.

        A keystroke is most of what a terminal's page sends, and the protocol's parser costs a
        large part of its way through this process. Only what the protocol would take as it is
        is taken: whole frames, final, binary, no reserved bits, masked (as a client's must be),
        of at most 125 bytes (far below the size limit), while the connection is open, the
        protocol has nothing buffered (it is at a frame's start) and no fragmented message is
        under way. Anything else (control frames, text, larger or split frames) goes to it.
        """
        if self.protocol.state is not OPEN:
            return data
        messages = self._messages
        pos = 0
        end = len(data)
        while end - pos >= 6 and data[pos] == 0x82:
            second = data[pos + 1]
            size = second & 0x7F
            if not second & 0x80 or size > 125 or end - pos < 6 + size:
                break
            start = pos + 6
            messages.append(apply_mask(data[start : start + size], data[pos + 2 : start]))
            pos = start + size
        return data[pos:] if pos else data

    @property
    def buffered(self) -> bool:
        """Whether messages already read wait to be taken by ``recv`` (the reading thread's)."""
        return bool(self._messages)

    def _receive(self, data: bytes) -> None:
        protocol = self.protocol
        with self._lock:
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            try:
                self._write()
            except OSError:
                data = b""  # gone: what was read is still handed on
        for event in events:
            if isinstance(event, Frame):
                self._frame(event)
        if not data or protocol.state is not OPEN:
            self._reading = False

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
            if not frame.fin:
                self._fragments = [bytes(frame.data)]
                self._fragmented_text = opcode is Opcode.TEXT
                return
            data = bytes(frame.data)
            text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            data, self._fragments = b"".join(self._fragments), []
            text = self._fragmented_text
        elif opcode is Opcode.PONG:
            if frame.data == self._ping_data:
                self._pong_deadline = None
            return
        else:
            return  # a ping (answered) or a close (answered; reading ends)
        if not text:
            self._messages.append(data)
            return
        try:
            self._messages.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            with self._lock:
                self.protocol.fail(1007, "invalid UTF-8 in a text frame")
                try:
                    self._write()
                except OSError:
                    pass
            self._reading = False

    # Writing (any thread) -------------------------------------------------------------------

    def send(self, message: Union[str, bytes, memoryview]) -> None:
        """Send one message (str: a text frame, bytes: binary), blocking while the page does
        not read. Raises :class:`Closed` once the connection is closing or gone."""
        with self._lock:
            if self.protocol.state is not OPEN:
                raise Closed()
            try:
                if isinstance(message, str):
                    self.protocol.send_text(message.encode("utf-8"))
                    self._write()
                else:
                    self._send_binary(message)
            except OSError:
                raise Closed() from None

    def _send_binary(self, data: Union[bytes, memoryview]) -> None:
        """A binary frame, written as header and payload without joining them (output comes in
        chunks of up to 64 KiB: a copy each saved). Frames from a server are never masked, and
        no extension is negotiated (the server offers none), so the header is all there is."""
        try:
            if self._unsent:
                self._io.sendall(self._unsent)
                self._unsent = b""
            size = len(data)
            if size < 126:
                header = struct.pack("!BB", 0x82, size)
            elif size < 65536:
                header = struct.pack("!BBH", 0x82, 126, size)
            else:
                header = struct.pack("!BBQ", 0x82, 127, size)
            if not _SENDMSG:
                self._io.sendall(header + data)
                return
            sent = self._io.sendmsg([header, data])
            if sent < len(header):
                self._io.sendall(header[sent:])
                sent = len(header)
            if sent - len(header) < size:
                self._io.sendall(memoryview(data)[sent - len(header) :])
        except OSError:
            self._broken()
            raise

    def _write(self, before_eof: Optional[Callable[[], Any]] = None) -> None:
        """What the protocol has to send; the lock is held. Raises ``OSError``, having cut the
        connection, when the socket fails. ``before_eof`` sends what goes before the end of
        the connection, if the protocol ends it."""
        try:
            if self._unsent:
                self._io.sendall(self._unsent)
                self._unsent = b""
            for data in self.protocol.data_to_send():
                if data:
                    self._io.sendall(data)
                else:
                    if before_eof is not None:
                        before_eof()
                    try:
                        if self.tls is not None:
                            self.tls.close_notify()
                        self.socket.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        except OSError:
            self._broken()
            raise

    def _broken(self) -> None:
        """A write failed: the page is gone. Wake the reader (it sees the end) and send no
        more."""
        self.protocol.receive_eof()
        self.protocol.data_to_send()
        self.cut()

    def close(self, code: int = 1000, reason: str = "", wait: float = CLOSE_TIMEOUT) -> None:
        """Start the closing handshake (the reader sees it through); from any thread.

        Waits ``wait`` seconds at most for a sender that holds the socket (a page that stopped
        reading): past that the connection is cut instead.
        """
        if not self._lock.acquire(timeout=wait):
            self.cut()
            return
        try:
            if self.protocol.state is OPEN:
                self.protocol.send_close(code, reason)
                self.close_deadline = time.monotonic() + CLOSE_TIMEOUT
                try:
                    self._write()
                except OSError:
                    pass
        finally:
            self._lock.release()

    def cut(self) -> None:
        """Shut the socket down both ways: every thread blocked on it wakes. Never waits."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish(self) -> None:
        """The connection's end, on its thread: close it unless closing, wait (at most
        CLOSE_TIMEOUT) for the other side to close its end, then close the socket."""
        try:
            if self.protocol.state is OPEN:
                self.close(1000, wait=1.0)
                wait = CLOSE_TIMEOUT
            elif self.protocol.state is CONNECTING:
                # Not upgraded: nothing asked (time up, not HTTP, a failed TLS handshake) waits
                # for nothing; an answer waits briefly.
                wait = 0.0 if self.request is None else ANSWERED_LINGER
            else:
                wait = CLOSE_TIMEOUT
            deadline = time.monotonic() + wait
            while self.protocol.state is not CLOSED:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.socket.settimeout(left)
                try:
                    data = self._io.recv(RECV_BUFSIZE)
                except OSError:
                    data = b""
                with self._lock:
                    if data:
                        self.protocol.receive_data(data)
                    else:
                        self.protocol.receive_eof()
                    self.protocol.events_received()
                    try:
                        self._write()
                    except OSError:
                        break
                if not data:
                    break
        finally:
            self.socket.close()

    # Driven by the watch thread: never waits ----------------------------------------------

    def ping_now(self) -> bool:
        """Send a ping if that can be done without waiting (nobody else writing, room in the
        socket); False if not now."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self.protocol.state is not OPEN or self._unsent:
                return False
            self._ping_data = struct.pack("!d", time.monotonic())
            self.protocol.send_ping(self._ping_data)
            for data in self.protocol.data_to_send():
                try:
                    sent = self._io.send(data, _DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.cut()
                    return False
                if sent == 0:
                    return False  # nothing of it went: as if never sent
                self._unsent = data[sent:]
            if self._pong_deadline is None:
                self._pong_deadline = time.monotonic() + PING_TIMEOUT
            return True
        finally:
            self._lock.release()

    def keepalive(self, now: float) -> None:
        """A ping every PING_INTERVAL; the connection cut when one has had no pong in
        PING_TIMEOUT (the page went without a word: a laptop shut, a network gone)."""
        due = self._pong_deadline
        if due is not None and now > due:
            log.debug("no pong in %.0f s: the page is gone", PING_TIMEOUT)
            self.cut()
            return
        if now >= self._next_ping and self.ping_now():
            self._next_ping = now + PING_INTERVAL

    def overdue(self, now: float) -> bool:
        """Whether our close has waited past its deadline for the other side's."""
        deadline = self.close_deadline
        return deadline is not None and now > deadline and self.protocol.state is not CLOSED
