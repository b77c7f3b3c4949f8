"""One hijacked attach or exec connection, whatever transport the docker SDK used.

The SDK hands out a different object per transport (``SocketIO`` for unix and plain TCP, an
``SSLSocket`` for TLS, a paramiko ``Channel`` or an ``SSHSocket`` for ssh, an ``NpipeSocket`` on
Windows). This adapter gives the session four operations on any of them: read into a buffer, send
all, half-close the write side, and abort (wake a blocked reader).

Reads go through the HTTP response's buffered reader when there is one: the bytes that came in the
same packet as the HTTP headers are already in that buffer, and a reader of the raw socket would
never see them (docker-py issue 2466). Over ssh the SDK hands out the "channel" behind that reader:
with the ``ssh`` command (``SSHSocket``) the buffered reader is the process's stdout pipe (the
``SSHSocket`` itself is an unconnected socket that cannot be read), and with paramiko it is a
``ChannelFile`` whose leftover bytes are taken once and handed out before the channel's own.
"""

from __future__ import annotations

import errno
import io
import socket
import ssl
import threading
from typing import Any, Dict

# Errors that mean "the other side is gone": end of stream, not a failure of ours.
_GONE_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ESHUTDOWN, errno.ENOTCONN, errno.EBADF}


class Connection:
    """Adapter over the object returned by ``attach_socket`` or ``exec_start(socket=True)``."""

    def __init__(self, sock: Any, response: Any = None) -> None:
        self.sock = sock
        self.response = response if response is not None else getattr(sock, "_response", None)
        # The kernel socket (or the SSL one) for send and shutdown; SocketIO has no send.
        self._raw = getattr(sock, "_sock", sock)
        self._pending = b""
        self._reader = self._buffered_reader()
        self._closed = False
        self._aborted = False
        self._lock = threading.Lock()

    def _buffered_reader(self) -> Any:
        fp = getattr(getattr(getattr(self.response, "raw", None), "_fp", None), "fp", None)
        if fp is None:
            return None
        raw = getattr(fp, "raw", None)
        # Over TLS the SDK hands out the SSLSocket that sits under the file's SocketIO.
        ours = (
            raw is self.sock
            or getattr(raw, "_sock", None) is self.sock
            or getattr(fp, "channel", None) is self.sock
        )
        if not ours:
            return None
        if hasattr(fp, "readinto1"):
            return fp
        # paramiko's ChannelFile: its read() waits for a full count, so read the channel itself,
        # after whatever the HTTP parser left in the file's buffer.
        pending = getattr(fp, "_rbuffer", None)
        if isinstance(pending, (bytes, bytearray)) and pending:
            self._pending = bytes(pending)
            fp._rbuffer = b""
        return None

    # The read side -------------------------------------------------------------------------

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` with what has arrived (blocking); 0 means end of stream."""
        if self._pending:
            n = min(len(buf), len(self._pending))
            buf[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        try:
            if self._reader is not None:
                n = self._reader.readinto1(buf) or 0
                if len(buf) >= io.DEFAULT_BUFFER_SIZE and type(self._raw) in _DIRECT:
                    # A read larger than the file's buffer has emptied it: what came with the
                    # HTTP headers is delivered, and from now on the socket is read directly,
                    # without the file and SocketIO layers on every chunk.
                    self._reader = None
                return n
            if hasattr(self._raw, "recv_into"):
                return self._raw.recv_into(buf)
            data = self._raw.recv(len(buf))
            buf[: len(data)] = data
            return len(data)
        except (OSError, ValueError) as exc:
            # After abort() the reader sees a reset or a closed file: that is our own doing.
            if self._aborted or _is_gone(exc):
                return 0
            raise

    # The write side ------------------------------------------------------------------------

    def sendall(self, data: bytes) -> None:
        self._raw.sendall(data)

    def close_write(self) -> bool:
        """Tell the container its stdin has ended, keeping the read side open.

        Returns False where the transport cannot half-close (TLS, named pipes): ``shutdown`` on an
        ``SSLSocket`` drops the TLS layer for the read side too, so there the input is simply left
        open and the session still ends when the container's output does.
        """
        raw = self._raw
        if isinstance(raw, ssl.SSLSocket):
            return False
        if hasattr(raw, "shutdown_write"):  # paramiko Channel
            raw.shutdown_write()
            return True
        proc = getattr(raw, "proc", None)
        if proc is not None and getattr(proc, "stdin", None) is not None:  # SSHSocket (ssh client)
            proc.stdin.close()
            return True
        if isinstance(raw, socket.socket) and type(raw).__name__ == "socket":
            try:
                raw.shutdown(socket.SHUT_WR)
            except OSError as exc:
                if not _is_gone(exc):
                    raise
            return True
        return False

    # Ending --------------------------------------------------------------------------------

    def abort(self) -> None:
        """Wake a thread blocked in ``readinto`` or ``sendall``; safe from any thread, any time."""
        with self._lock:
            if self._closed or self._aborted:
                return
            self._aborted = True
        raw = self._raw
        proc = getattr(raw, "proc", None)
        try:
            if proc is not None and hasattr(proc, "terminate"):
                # SSHSocket: the reader waits on the ssh command's stdout; only its end wakes it.
                proc.terminate()
            elif hasattr(raw, "shutdown_write") and hasattr(raw, "get_transport"):
                # paramiko Channel: shutdown() only feigns the read side; close() wakes recv().
                raw.close()
            else:
                raw.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError, AttributeError):
            pass

    def close(self) -> None:
        """Release the connection; call only once no thread is inside ``readinto`` any more."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for closer in (self.response, self.sock, self._raw):
            try:
                if closer is not None:
                    closer.close()
            except Exception:  # noqa: BLE001 - closing is best effort on every transport
                pass
        proc = getattr(self._raw, "proc", None)
        if proc is not None and hasattr(proc, "wait"):
            self._close_ssh_command(proc)

    def _close_ssh_command(self, proc: Any) -> None:
        """SSHSocket: its close() skips everything once stdin is closed (after a half-close) and
        never closes the socket it inherits from, so the ssh process, its pipes and a descriptor
        would stay behind: end the process, reap it, close the pipes and the socket."""
        try:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            try:
                proc.kill()
                proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        for pipe in (getattr(proc, "stdin", None), getattr(proc, "stdout", None)):
            try:
                if pipe is not None:
                    pipe.close()
            except Exception:  # noqa: BLE001
                pass
        if isinstance(self._raw, socket.socket):
            try:
                socket.socket.close(self._raw)
            except Exception:  # noqa: BLE001
                pass


# Sockets whose own recv_into is what the SDK's file reads through; subclasses (the ssh-command
# SSHSocket) read elsewhere and must stay behind their file.
_DIRECT = (socket.socket, ssl.SSLSocket)


def _is_gone(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _GONE_ERRNOS


def _hijacked(client: Any, sock: Any) -> Connection:
    # The hijacked socket keeps the client's timeout (60 s by default), and an idle shell would
    # die after a minute; the SDK clears it for its own streams with this helper, not for these.
    client._disable_socket_timeout(sock)
    return Connection(sock)


def open_attach(client: Any, container: str, params: Dict[str, Any]) -> Connection:
    return _hijacked(client, client.attach_socket(container, params=params))


def open_exec(client: Any, exec_id: str, tty: bool) -> Connection:
    return _hijacked(client, client.exec_start(exec_id, tty=tty, socket=True))
