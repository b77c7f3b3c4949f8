"""One hijacked attach or exec connection, whatever transport the docker SDK used.

The SDK hands out a different object per transport (``SocketIO`` for unix and plain TCP, an
``SSLSocket`` for TLS, a paramiko ``Channel`` or an ``SSHSocket`` for ssh, an ``NpipeSocket`` on
Windows). ``Connection`` gives the session the same operations on any of them: read into a buffer,
send all, half-close the write side, abort (wake a blocked reader or writer) and close. Which
transport it is gets decided once, when the connection is made, into one small object per
transport (``_transport_for``); the methods never look again.

Every transport first hands out the bytes that came in the same packets as the HTTP headers: they
are in the buffer of the reader the SDK parsed the headers with, and a reader of the raw socket
would never see them (docker-py issue 2466). They are handed out without waiting for more, so the
replayed logs of an idle container are not held back until it prints again.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
import threading
from typing import Any, Dict, Iterator, Optional, Tuple

from ._docker import call, disable_socket_timeout, response_of, start_exec_socket

# Errors that mean "the other side is gone": end of stream, not a failure of ours.
_GONE_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ESHUTDOWN, errno.ENOTCONN, errno.EBADF}


class Connection:
    """Adapter over the object returned by ``attach_socket`` or ``exec_start(socket=True)``."""

    def __init__(self, sock: Any, response: Any = None) -> None:
        self.sock = sock
        self.response = response if response is not None else response_of(sock)
        self._transport = _transport_for(sock, self.response)
        self._closed = False
        self._aborted = False
        self._lock = threading.Lock()

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` with what has arrived (blocking); 0 means end of stream."""
        try:
            return self._transport.readinto(buf)
        except (OSError, ValueError) as exc:
            # After abort() the reader sees a reset or a closed file: that is our own doing.
            if self._aborted or _is_gone(exc):
                return 0
            raise

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes as they arrive, in a new object (blocking); ``b""`` at the end."""
        try:
            return self._transport.read(size)
        except (OSError, ValueError) as exc:
            if self._aborted or _is_gone(exc):
                return b""
            raise

    def sendall(self, data: bytes) -> None:
        self._transport.sendall(data)

    def close_write(self) -> bool:
        """Tell the container its stdin has ended, keeping the read side open.

        Returns False where the transport cannot half-close (TLS, named pipes): there the input
        is simply left open and the session still ends when the container's output does.
        """
        return self._transport.close_write()

    def abort(self) -> None:
        """Wake a thread blocked in ``readinto`` or ``sendall``; safe from any thread, any time."""
        with self._lock:
            if self._closed or self._aborted:
                return
            self._aborted = True
        try:
            self._transport.abort()
        except (OSError, ValueError, AttributeError):
            pass

    def close(self) -> None:
        """Release the connection; call only once no thread is inside ``readinto`` any more."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for closer in (self.response, self.sock, self._transport):
            try:
                if closer is not None:
                    closer.close()
            except Exception:  # noqa: BLE001 - closing is best effort on every transport
                pass


# The transports ----------------------------------------------------------------------------


class _Transport:
    """Reading through the HTTP response's buffered reader until it is drained, then directly."""

    def __init__(self, headers_file: Any) -> None:
        # The reader the SDK parsed the headers with, while it may still hold bytes of ours.
        self._file = headers_file

    def readinto(self, buf: memoryview) -> int:
        if self._file is None:
            return self._recv_into(buf)
        # read1 hands out only what is buffered when anything is (one raw read otherwise);
        # readinto1 with a buffer larger than the file's copies that and then blocks in a read.
        data = self._file.read1(len(buf))
        n = len(data)
        buf[:n] = data
        if n < len(buf):
            # A short read1 leaves the file's buffer empty, and nothing reads through it again:
            # from now on the transport is read directly, without the file's layers.
            self._file = None
        return n

    def read(self, size: int) -> bytes:
        # Through readinto, for transports with no read of their own that returns a new object.
        buf = bytearray(size)
        with memoryview(buf) as view:
            n = self.readinto(view)
        del buf[n:]
        return bytes(buf)

    def _recv_into(self, buf: memoryview) -> int:
        raise NotImplementedError

    def sendall(self, data: bytes) -> None:
        raise NotImplementedError

    def close_write(self) -> bool:
        return False

    def abort(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _Socket(_Transport):
    """A unix or TCP socket (the SDK hands out the ``SocketIO`` over it)."""

    def __init__(self, sock: socket.socket, headers_file: Any) -> None:
        super().__init__(headers_file)
        self._sock = sock

    def _recv_into(self, buf: memoryview) -> int:
        return self._sock.recv_into(buf)

    def read(self, size: int) -> bytes:
        if self._file is not None:
            return super().read(size)
        return self._sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_write(self) -> bool:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if not _is_gone(exc):
                raise
        return True

    def abort(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # SocketIO.close() leaves the socket under it open.
        self._sock.close()


class _TLS(_Socket):
    """An ``SSLSocket``: its ``shutdown`` drops the TLS layer for reading too; no half-close."""

    def close_write(self) -> bool:
        return False


class _NamedPipe(_Socket):
    """An ``NpipeSocket`` (Windows), or any other socket-like object the SDK may hand out.

    Its ``shutdown`` closes the pipe's handle, which is what wakes a blocked read; a pipe cannot
    half-close, so the input is left open. Its failures are not OSErrors: they are given the
    errno the same failure has on a socket, so the end of the pipe reads as the end of stream.
    """

    def readinto(self, buf: memoryview) -> int:
        with _pipe_errors():
            return super().readinto(buf)

    def read(self, size: int) -> bytes:
        # Through readinto: NpipeSocket's recv_into is all that every version of it offers.
        with _pipe_errors():
            return _Transport.read(self, size)

    def sendall(self, data: bytes) -> None:
        with _pipe_errors():
            super().sendall(data)

    def _recv_into(self, buf: memoryview) -> int:
        if hasattr(self._sock, "recv_into"):
            return self._sock.recv_into(buf)
        data = self._sock.recv(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close_write(self) -> bool:
        return False


class _ParamikoChannel(_Transport):
    """A paramiko ``Channel`` (``ssh://`` without ``use_ssh_client``).

    The headers were read through a ``ChannelFile`` whose ``read`` waits for a full count, so the
    bytes it holds past the headers are taken once, and the channel itself is read after them.
    """

    def __init__(self, channel: Any, headers_file: Any) -> None:
        super().__init__(None)
        self._channel = channel
        self._pending = b""
        held = getattr(headers_file, "_rbuffer", None)
        if isinstance(held, (bytes, bytearray)) and held:
            self._pending = bytes(held)
            headers_file._rbuffer = b""

    def readinto(self, buf: memoryview) -> int:
        if self._pending:
            n = min(len(buf), len(self._pending))
            buf[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._channel.recv(len(buf))
        buf[: len(data)] = data
        return len(data)

    def read(self, size: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return bytes(self._channel.recv(size))

    def sendall(self, data: bytes) -> None:
        self._channel.sendall(data)

    def close_write(self) -> bool:
        self._channel.shutdown_write()
        return True

    def abort(self) -> None:
        # shutdown() only feigns the read side; close() wakes recv().
        self._channel.close()

    def close(self) -> None:
        self._channel.close()


class _SSHCommand(_Transport):
    """An ``SSHSocket`` (``use_ssh_client=True``): the ``ssh`` command's pipes.

    The SSHSocket itself is an unconnected socket that cannot be read: output comes from the
    process's stdout (the file the headers were read through, then the pipe under it), input goes
    to its stdin.
    """

    def __init__(self, sock: Any, headers_file: Any) -> None:
        super().__init__(headers_file)
        self._sock = sock
        self._proc = sock.proc
        # Under the stdout file: once its buffer is drained, one read of the pipe per call.
        self._pipe = getattr(self._proc.stdout, "raw", self._proc.stdout)

    def _recv_into(self, buf: memoryview) -> int:
        return self._pipe.readinto(buf) or 0

    def read(self, size: int) -> bytes:
        if self._file is not None:
            return super().read(size)
        return self._pipe.read(size) or b""

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_write(self) -> bool:
        if self._proc.stdin is None:
            return False
        self._proc.stdin.close()
        return True

    def abort(self) -> None:
        # The reader waits on the ssh command's stdout; only the command's end wakes it.
        self._proc.terminate()

    def close(self) -> None:
        """SSHSocket's close() skips everything once stdin is closed (after a half-close) and
        never closes the socket it inherits from, so the ssh process, its pipes and a descriptor
        would stay behind: end the process, reap it, close the pipes and the socket."""
        proc = self._proc
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
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except Exception:  # noqa: BLE001
                pass
        socket.socket.close(self._sock)


def _transport_for(sock: Any, response: Any) -> _Transport:
    """The transport of the object the SDK handed out, decided once."""
    headers_file = _headers_file(sock, response)
    # SocketIO (unix, plain TCP) has no send or shutdown: the socket under it does.
    raw = getattr(sock, "_sock", sock)
    if isinstance(raw, ssl.SSLSocket):
        return _TLS(raw, headers_file)
    if hasattr(raw, "shutdown_write") and hasattr(raw, "get_transport"):
        return _ParamikoChannel(raw, headers_file)
    if getattr(raw, "proc", None) is not None:
        return _SSHCommand(raw, headers_file)
    if type(raw) is socket.socket:
        return _Socket(raw, headers_file)
    return _NamedPipe(raw, headers_file)


def _headers_file(sock: Any, response: Any) -> Optional[Any]:
    """The buffered reader the HTTP headers were parsed with, if it reads from ``sock``."""
    fp = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if fp is None:
        return None
    raw = getattr(fp, "raw", None)
    # What the SDK hands out sits at a different depth per transport: the SocketIO (unix, TCP),
    # the SSLSocket under it (TLS), the NpipeSocket under the pipe's raw file (Windows), or the
    # ChannelFile's/ssh stdout's ``channel`` (ssh).
    readers = (raw, getattr(raw, "_sock", None), getattr(raw, "sock", None))
    if any(r is sock for r in readers) or getattr(fp, "channel", None) is sock:
        return fp
    return None


# Windows errors of a pipe whose other end is gone: ERROR_BROKEN_PIPE ("the pipe has been ended",
# which docker-py reads as the end of stream), ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED.
_PIPE_GONE_WINERRORS = {109, 232, 233}


@contextlib.contextmanager
def _pipe_errors() -> Iterator[None]:
    """NpipeSocket raises ``pywintypes.error`` (not an OSError: pywin32 issue 486) and, once its
    handle is closed, RuntimeError: raise them as the OSError of the same failure on a socket."""
    try:
        yield
    except OSError:
        raise
    except RuntimeError as exc:
        raise OSError(errno.EBADF, str(exc)) from exc
    except Exception as exc:
        if getattr(exc, "winerror", None) is None or not exc.args:
            raise
        gone = exc.args[0] in _PIPE_GONE_WINERRORS
        raise OSError(errno.EPIPE if gone else errno.EIO, str(exc)) from exc


def _is_gone(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _GONE_ERRNOS


def _hijacked(client: Any, sock: Any) -> Connection:
    disable_socket_timeout(client, sock)  # else an idle shell dies at the client's timeout
    return Connection(sock)


def open_attach(client: Any, container: str, params: Dict[str, Any]) -> Connection:
    return _hijacked(client, call(client.attach_socket, container, params=params))


def open_exec(
    client: Any, exec_id: str, tty: bool, size: Optional[Tuple[int, int]] = None
) -> Connection:
    """Start the exec on a hijacked connection; ``size`` (rows, columns) is its TTY's size from
    the start (``ConsoleSize``, API 1.42+), which the SDK's ``exec_start`` cannot pass."""
    if size is None:
        return _hijacked(client, call(client.exec_start, exec_id, tty=tty, socket=True))
    return _hijacked(client, start_exec_socket(client, exec_id, tty, size))
