"""HTTPS and WSS without a proxy: the server's certificate and key, and TLS over an accepted
connection, run in memory by the connection's own threads.

The handshake runs on the connection's thread, inside the handshake timeout its request has
(never on the accept thread: a client that connects and never says a word delays nobody, and is
cut when its time is up), and the connection counts against ``--max-pending`` all the while.

OpenSSL's object for the connection is driven through memory buffers (``ssl.MemoryBIO`` and
``ssl.SSLObject``) over the plain accepted socket, rather than ``SSLContext.wrap_socket``:

- A connection is read by one thread and written by others (the output thread, the watch thread's
  pings) at once. One SSL object must not be used by two threads at a time, and an
  ``SSLSocket`` would hold it during the blocking read and write themselves. Here it is used only
  under a lock held for in-memory work, never while a socket blocks: a read waiting for the page
  holds back no write, and a write blocked by a page that does not read holds back no read.
- What the socket layer of the server does stays as it is: a timeout, ``shutdown`` to wake a
  blocked thread, the epoll watch on the descriptor, and a write that must not wait (the watch
  thread's ping, ``MSG_DONTWAIT``), which an ``SSLSocket`` does not offer.

Encrypted bytes leave in the order the SSL object made them: whoever sends holds ``_send_lock``
and takes them from the head of the outgoing buffer. Reading may make some too (TLS 1.3 answers
a key update so; the end of the handshake writes session tickets): the reader sends them before
it goes on.

A read first asks the SSL object for what it holds before reading the socket again: a TLS 1.3
client sends its request right behind the handshake's last message, often in the same segment,
and a read of the socket then would wait for bytes that have come already.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from typing import Iterable, Optional, Union

# At most one TLS record's worth, with its header and padding, read from the socket at a time:
# the SSL object asks for more only when what it holds is not a whole record.
_RAW_READ = 16384 + 2048
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)

Buffer = Union[bytes, bytearray, memoryview]


class TLSConfigError(ValueError):
    """The certificate or key cannot be used; the text is for the user."""


def server_context(certfile: str, keyfile: Optional[str] = None) -> ssl.SSLContext:
    """A server context with ``certfile`` (PEM: the certificate, then any intermediates) and
    ``keyfile`` (PEM, unencrypted; None: the key is in ``certfile``); TLS 1.2 at least.

    Raises :class:`TLSConfigError` saying which file is wrong and how.
    """
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not os.path.isfile(path):
            raise TLSConfigError(f"{option}: no such file: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # Parses the certificates alone, so that a failure below is the key's.
        context.load_verify_locations(cafile=certfile)
    except (ssl.SSLError, ValueError):
        raise TLSConfigError(f"--certfile: no PEM certificate in {certfile}") from None
    except OSError as exc:
        raise TLSConfigError(f"--certfile: cannot read {certfile}: {exc.strerror}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def no_passphrase() -> str:
        # Without this OpenSSL would prompt on the terminal, and a server started by a service
        # manager would hang there.
        raise TLSConfigError(
            f"{'--keyfile' if keyfile else '--certfile'}: the key is protected by a passphrase; "
            "give an unencrypted key (openssl pkey -in KEY -out PLAIN)"
        )

    key_option = "--keyfile" if keyfile else "--certfile"
    try:
        context.load_cert_chain(certfile, keyfile, password=no_passphrase)
    except TLSConfigError:
        raise
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TLSConfigError(
                f"{key_option}: the key does not match the certificate in {certfile}"
            ) from None
        raise TLSConfigError(
            f"{key_option}: no usable PEM private key in {keyfile or certfile}"
        ) from None
    except OSError as exc:
        raise TLSConfigError(f"{key_option}: cannot read {keyfile}: {exc.strerror}") from None
    return context


class TLSStream:
    """TLS over ``sock`` for the server's side of a connection: the few calls of a socket the
    WebSocket code makes for its bytes (``recv``, ``sendall``, ``sendmsg``, ``send``), plus the
    handshake and ``close_notify``. Timeouts, ``shutdown`` and ``close`` stay the socket's."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self._sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._in, self._out, server_side=True)
        # The SSL object and its two buffers: held for in-memory work only.
        self._lock = threading.Lock()
        # Sending encrypted bytes to the socket (may block): in the order they were made.
        self._send_lock = threading.Lock()
        # Encrypted bytes a send that must not wait left behind: the next send's first.
        self._left = b""
        self.established = False

    @property
    def version(self) -> Optional[str]:
        return self._ssl.version()

    def handshake(self, deadline: float) -> None:
        """The TLS handshake, by ``deadline`` (``time.monotonic()``); raises ``OSError``
        (``socket.timeout`` when the time is up, ``ssl.SSLError`` for a client that does not
        speak TLS or offers nothing we accept)."""
        while True:
            failed: Optional[ssl.SSLError] = None
            with self._lock:
                try:
                    self._ssl.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    done = False
                except ssl.SSLError as exc:
                    failed = exc
                pending = self._out.pending
            if pending:
                self._flush()  # an alert too, telling the client why
            if failed is not None:
                raise failed
            if done:
                self.established = True
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the TLS handshake took too long")
            self._sock.settimeout(left)
            self._feed()

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of plain text; b"" at the end (a close_notify, or the socket's
        end). Blocks as the socket does, and raises its timeout."""
        if not self.established:
            raise OSError("no TLS connection")
        while True:
            with self._lock:
                try:
                    data: Optional[bytes] = self._ssl.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                pending = self._out.pending
            if pending:
                self._flush()
            if data is not None:
                return data
            self._feed()

    def sendall(self, data: Buffer) -> None:
        with self._lock:
            self._ssl.write(data)
        self._flush()

    def sendmsg(self, buffers: Iterable[Buffer]) -> int:
        """Every buffer, as one; returns their length. Encrypting copies them anyway, and one
        record for a frame's header and another for its payload would cost more than the join."""
        data = b"".join(buffers)
        self.sendall(data)
        return len(data)

    def send(self, data: Buffer, flags: int = 0) -> int:
        """With ``MSG_DONTWAIT``: 0 if anything is still to go before ``data`` (nothing of it
        is taken then), else all of it, encrypted, what the socket could not take now kept for
        the next send. Without: as ``sendall``."""
        if not flags & _DONTWAIT:
            self.sendall(data)
            return len(data)
        if not self._send_lock.acquire(blocking=False):
            return 0
        try:
            if not self._send_now(flags):
                return 0
            with self._lock:
                self._ssl.write(data)
            self._send_now(flags)
            return len(data)
        finally:
            self._send_lock.release()

    def close_notify(self) -> None:
        """Tell the client nothing more comes (before the socket's write side is shut)."""
        if not self.established:
            return
        with self._lock:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass  # it waits for the client's own close_notify, which nobody needs
        self._flush()

    def _feed(self) -> None:
        """Read the socket once into the SSL object (its end too)."""
        raw = self._sock.recv(_RAW_READ)
        with self._lock:
            if raw:
                self._in.write(raw)
            else:
                self._in.write_eof()

    def _flush(self) -> None:
        """Send every encrypted byte made so far, blocking as the socket does."""
        with self._send_lock:
            if self._left:
                self._sock.sendall(self._left)
                self._left = b""
            while True:
                with self._lock:
                    data = self._out.read()
                if not data:
                    return
                self._sock.sendall(data)

    def _send_now(self, flags: int) -> bool:
        """Send what waits without waiting (``_send_lock`` held); whether all of it went."""
        while True:
            if not self._left:
                with self._lock:
                    self._left = self._out.read()
                if not self._left:
                    return True
            try:
                sent = self._sock.send(self._left, flags)
            except BlockingIOError:
                return False
            self._left = self._left[sent:]
            if self._left:
                return False
