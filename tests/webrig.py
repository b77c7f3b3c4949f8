"""A `threadpty web` server in a child process, for the tests: started on a free loopback port,
its URL read from the one line it prints, its RSS read from /proc, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

from websockets.sync.client import ClientConnection, connect

TOKEN = "test-token-0123456789"


class WebServer:
    def __init__(
        self,
        *args: str,
        token: str = TOKEN,
        env: Optional[dict] = None,
        nofile: Optional[Tuple[int, int]] = None,
    ) -> None:
        self.token = token
        # Sessions end with their connection, as before --linger, unless a test asks otherwise:
        # the tests of ends, hang-ups and limits count on it.
        linger = [] if "--linger" in args else ["--linger", "0"]
        cmd = [
            sys.executable, "-m", "threadpty", "web", "--port", "0", "--token", token,
            *linger, *args,
        ]  # fmt: skip
        if nofile is not None:
            # Its descriptor limit (soft, hard), set by util-linux's prlimit as it starts.
            cmd = ["prlimit", f"--nofile={nofile[0]}:{nofile[1]}", *cmd]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, **(env or {})),
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = _read_line(self.proc.stdout, 30)
        m = re.search(rb"serving at (https?)://([^/]+)/", line)
        if m is None:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"threadpty web did not start: {line!r} {err!r}")
        self.scheme = m.group(1).decode()
        self.netloc = m.group(2).decode()
        self.port = int(self.netloc.rsplit(":", 1)[1])
        self.base = f"{self.scheme}://{self.netloc}"
        self.printed = line
        # The URL exactly as printed, for a browser to open as a user would.
        self.printed_url = line.decode().split("serving at ", 1)[1].strip()

    def url(self, path: str = "/", token: bool = True) -> str:
        """A page's URL as a browser is given it: the token in the fragment, as printed."""
        return f"{self.base}{path}#token={self.token}" if token else f"{self.base}{path}"

    def ws(
        self, path: str = "/ws", token: Optional[str] = "bearer", **kwargs: Any
    ) -> ClientConnection:
        headers = list(kwargs.pop("additional_headers", []))
        if token == "bearer":
            headers.append(("Authorization", f"Bearer {self.token}"))
        kwargs.setdefault("open_timeout", 30)
        kwargs.setdefault("max_size", None)
        scheme = "wss" if self.scheme == "https" else "ws"
        return connect(f"{scheme}://{self.netloc}{path}", additional_headers=headers, **kwargs)

    def rss(self) -> int:
        """The server's resident set, in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def nofile(self) -> Tuple[int, int]:
        """Its (soft, hard) limit on open descriptors."""
        with open(f"/proc/{self.proc.pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return int(soft), int(hard)
        raise RuntimeError("no open files limit")

    def stop(self, timeout: float = 30) -> Tuple[int, bytes]:
        """Ctrl-C, as a user would; returns (status, everything it wrote to stdout and stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _dump_threads(self.proc.pid)
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise AssertionError(
                f"threadpty web did not stop on Ctrl-C within {timeout}s"
            ) from None
        return self.proc.returncode, self.printed + out + err


def peak_rss_until(
    server: WebServer,
    done: Callable[[], bool],
    what: str,
    timeout: float,
    pause: Callable[[], None],
) -> int:
    """The server's highest RSS, sampled until ``done()``; fails with ``what`` past ``timeout``.
    ``pause`` waits between samples (a page's own wait, so that its events go on)."""
    peak = server.rss()
    deadline = time.monotonic() + timeout
    while not done():
        peak = max(peak, server.rss())
        assert time.monotonic() < deadline, what
        pause()
    return max(peak, server.rss())


@contextlib.contextmanager
def web_server(*args: str, **kwargs: Any) -> Iterator[WebServer]:
    server = WebServer(*args, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def _read_line(stream: Any, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def start(ws: ClientConnection, rows: int = 24, cols: int = 80) -> None:
    ws.send(json.dumps({"type": "start", "rows": rows, "cols": cols}))


class Reader:
    """Reads a terminal's frames: bytes are kept, control messages collected."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.data = bytearray()
        self.controls: List[dict] = []
        self.frames: List[bytes] = []

    def one(self, timeout: float) -> Union[bytes, dict]:
        m = self.ws.recv(timeout=timeout)
        if isinstance(m, str):
            control = json.loads(m)
            self.controls.append(control)
            return control
        self.data += m
        self.frames.append(m)
        return m

    def until(self, pattern: bytes, timeout: float = 20) -> bytes:
        """Read until ``pattern`` (a regex) matches what came since the last call."""
        deadline = time.monotonic() + timeout
        start = 0
        while True:
            m = re.search(pattern, bytes(self.data[start:]))
            if m is not None:
                out = bytes(self.data[: start + m.end()])
                del self.data[: start + m.end()]
                return out
            left = deadline - time.monotonic()
            tail = bytes(self.data)[-500:]
            assert left > 0, f"{pattern!r} did not come within {timeout}s; got {tail!r}"
            self.one(left)

    def control(self, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while not self.controls:
            left = deadline - time.monotonic()
            assert left > 0, "no control message came"
            self.one(left)
        return self.controls.pop(0)


def _dump_threads(pid: int) -> None:
    """Where a server that does not stop is stuck, for the failure's report (py-spy, if here)."""
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        sys.stderr.write("(no py-spy beside this Python: the server's threads are not shown)\n")
        return
    try:
        out = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:  # the report must not hide the failure
        sys.stderr.write(f"(py-spy could not dump the server's threads: {exc})\n")
        return
    sys.stderr.write((out.stdout or out.stderr).decode(errors="replace"))


def shells(box: str) -> int:
    """How many shells run in the box (each tab's exec is one)."""
    from conftest import docker_cli

    return sum(
        1
        for line in docker_cli("exec", box, "ps", "-o", "args").splitlines()
        if line.strip() == "/bin/sh"
    )


def self_signed(directory: str, name: str = "localhost") -> Tuple[str, str, bytes]:
    """A certificate for ``name`` (and 127.0.0.1) with its key, made now in ``directory``:
    (cert.pem, key.pem, the DER of its public key, which is what a browser pins)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile = os.path.join(directory, "cert.pem")
    keyfile = os.path.join(directory, "key.pem")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return certfile, keyfile, spki
