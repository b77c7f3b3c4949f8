"""The core scenarios over TCP with TLS and over ssh:// (paramiko, and the ``ssh`` command).

Each runs against the private engine of ``private_engine.py`` (its own dockerd with ``--tlsverify``
and an sshd in front of it), so the machine's engine is never reconfigured. What a transport
cannot do is pinned as documented in README.rst: over TLS the end of input is not passed on (no
half-close), and the session ends when the container's output ends.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import threading
import time
import warnings
from typing import Any, Dict, Iterator, Tuple

import pytest

import threadpty

from private_engine import IMAGE, OWN_ENGINE_WHY, PrivateEngine

pytestmark = [
    pytest.mark.own_engine(reason=OWN_ENGINE_WHY),
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("no_thread_left"),
]

TRANSPORTS = ["tls", "ssh-paramiko", "ssh-command"]


@pytest.fixture(scope="module")
def rig(engine: Any) -> Iterator[PrivateEngine]:
    """A private dockerd with TLS and an sshd, for this module; everything goes at the end."""
    pe = PrivateEngine(tls=True, ssh=True).setup()
    old_path = os.environ.get("PATH", "")
    # The `ssh` the SDK runs for use_ssh_client=True is the rig's wrapper (its own config).
    os.environ["PATH"] = pe.ssh_env()["PATH"]
    try:
        yield pe
    finally:
        os.environ["PATH"] = old_path
        pe.teardown()


@pytest.fixture(scope="module")
def box(rig: PrivateEngine) -> str:
    """A running container on the private engine to exec into."""
    api = rig.unix_client()
    cid = api.create_container(IMAGE, "sleep 3600")["Id"]
    api.start(cid)
    return str(cid)


@pytest.fixture(scope="module", params=TRANSPORTS)
def remote(request: Any, rig: PrivateEngine) -> Tuple[str, Any]:
    """(name, APIClient) over one transport; made before a test so its threads are not counted."""
    name = request.param
    if name == "tls":
        client = rig.tls_client()
    elif name == "ssh-paramiko":
        client = rig.ssh_client(use_ssh_client=False)
    else:
        client = rig.ssh_client(use_ssh_client=True)
    return name, client


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll a condition the test cannot get an event for (bytes arriving in a BytesIO)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.01)


def test_exit_code_and_streams_apart(remote: Tuple[str, Any], box: str) -> None:
    _, client = remote
    out, err = io.BytesIO(), io.BytesIO()
    session = threadpty.Session.exec(
        client,
        box,
        ["sh", "-c", "echo o; echo e >&2; exit 5"],
        stdout=out,
        stderr=err,
        interactive=False,
    ).start()
    assert session.join(timeout=60) == 5
    assert (out.getvalue(), err.getvalue()) == (b"o\n", b"e\n")


def test_run_first_output_not_lost(remote: Tuple[str, Any], rig: PrivateEngine) -> None:
    """Attach before start: the bytes that come with the HTTP headers reach the caller."""
    _, client = remote
    for i in range(3):
        cid = client.create_container(IMAGE, ["echo", f"first{i}"])["Id"]
        out = io.BytesIO()
        try:
            code = threadpty.Session.run(client, cid, stdout=out, interactive=False).start()
            assert code.join(timeout=60) == 0
        finally:
            client.remove_container(cid, force=True)
        assert out.getvalue() == f"first{i}\n".encode()


def test_output_integrity(remote: Tuple[str, Any], box: str) -> None:
    _, client = remote
    script = "head -c 3000000 /dev/urandom > /tmp/b; sha256sum /tmp/b >&2; cat /tmp/b"
    out, err = io.BytesIO(), io.BytesIO()
    session = threadpty.Session.exec(
        client, box, ["sh", "-c", script], stdout=out, stderr=err, interactive=False
    ).start()
    assert session.join(timeout=120) == 0
    assert len(out.getvalue()) == 3_000_000
    assert hashlib.sha256(out.getvalue()).hexdigest() == err.getvalue().split()[0].decode()


def test_input_that_ends_output(remote: Tuple[str, Any], box: str) -> None:
    """Input the container stops reading by itself: every transport, TLS included, ends."""
    _, client = remote
    payload = os.urandom(200_000)
    out = io.BytesIO()
    session = threadpty.Session.exec(
        client,
        box,
        ["sh", "-c", "head -c 200000 | sha256sum"],
        stdin=io.BytesIO(payload),
        stdout=out,
        tty=False,
    ).start()
    assert session.join(timeout=60) == 0
    assert out.getvalue().split()[0].decode() == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("tty", [False, True], ids=["frames", "tty"])
def test_pipe_reader_reads_the_transport_itself(
    remote: Tuple[str, Any], box: str, tty: bool
) -> None:
    """A PIPE's waiting reader is lent the connection and reads it through ``Connection.read``."""
    _, client = remote
    session = threadpty.Session.exec(
        client,
        box,
        ["seq", "1", "200000"],
        tty=tty,
        interactive=False,
        stdout=threadpty.PIPE,
        stderr=threadpty.STDOUT,
    ).start()
    got = []
    while True:
        data = session.stdout.read1(65536)
        if not data:
            break
        got.append(data)
    assert session.join(timeout=60) == 0
    newline = "\r\n" if tty else "\n"
    assert b"".join(got) == "".join(f"{i}{newline}" for i in range(1, 200001)).encode()


@pytest.mark.parametrize("remote", ["ssh-paramiko", "ssh-command"], indirect=True)
def test_input_half_close(remote: Tuple[str, Any], box: str) -> None:
    _, client = remote
    out = io.BytesIO()
    session = threadpty.Session.exec(
        client, box, "wc -c", stdin=io.BytesIO(b"x" * 1_048_576), stdout=out, tty=False
    ).start()
    assert session.join(timeout=60) == 0
    assert out.getvalue().strip() == b"1048576"


@pytest.mark.parametrize("remote", ["tls"], indirect=True)
def test_tls_input_end_is_not_passed_on(remote: Tuple[str, Any], box: str) -> None:
    """README: over TLS the end of input is not passed on; the session ends with the output."""
    _, client = remote
    out = io.BytesIO()
    session = threadpty.Session.exec(
        client, box, "wc -c", stdin=io.BytesIO(b"x" * 100_000), stdout=out, tty=False
    ).start()
    try:
        assert session._life.conn is not None and session._life.conn.close_write() is False
        # wc never sees end of file: the session is still running, nothing was printed.
        assert session.join(timeout=3) is None and session.running
        assert out.getvalue() == b""
    finally:
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 5
    assert not session.running and session.join() is None


def test_resize_reaches_the_tty(remote: Tuple[str, Any], box: str) -> None:
    _, client = remote
    r, w = os.pipe()
    out = io.BytesIO()
    with os.fdopen(r, "rb") as rf:
        session = threadpty.Session.exec(
            client,
            box,
            ["sh", "-c", "echo READY; read x; stty size; echo got $x"],
            stdin=rf,
            stdout=out,
            tty=True,
        ).start()
        try:
            wait_for(lambda: b"READY" in out.getvalue(), 60, "READY")
            session.target.resize(33, 111)
            os.write(w, b"go\n")
            assert session.join(timeout=60) == 0
        finally:
            os.close(w)
            session.close()
    assert b"33 111\r\n" in out.getvalue() and b"got go" in out.getvalue()


def test_close_wakes_an_idle_session(remote: Tuple[str, Any], box: str) -> None:
    """close() must wake the output thread blocked in a read, whatever the transport."""
    _, client = remote
    r, w = os.pipe()
    out = io.BytesIO()
    with os.fdopen(r, "rb") as rf:
        session = threadpty.Session.exec(
            client,
            box,
            ["sh", "-c", "echo READY; exec sleep 3600"],
            stdin=rf,
            stdout=out,
            tty=True,
        ).start()
        try:
            wait_for(lambda: b"READY" in out.getvalue(), 60, "READY")
            started = time.monotonic()
            session.close()
            assert time.monotonic() - started < 5
            assert not session.running and session.join() is None
        finally:
            os.close(w)


def test_sessions_at_once(remote: Tuple[str, Any], box: str) -> None:
    _, client = remote
    results: Dict[int, Any] = {}

    def one(i: int) -> None:
        out = io.BytesIO()
        code = (
            threadpty.Session.exec(
                client,
                box,
                ["sh", "-c", f"head -c {50000 + i} /dev/zero; exit {i}"],
                stdout=out,
                interactive=False,
            )
            .start()
            .join(timeout=120)
        )
        results[i] = (code, len(out.getvalue()))

    workers = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=150)
    assert results == {i: (i, 50000 + i) for i in range(5)}


def test_no_descriptor_or_process_left(
    remote: Tuple[str, Any], rig: PrivateEngine, box: str
) -> None:
    """Sessions over the transport leave no descriptor behind (the ssh command's pipes and the
    unused socket of the SDK's SSHSocket included) and no ssh process.

    The test makes a client of its own and closes it at the end: the SDK keys its connection pools
    by URL (each exec's URLs get pools of their own) and evicts whole pools by count, so how many
    idle connections (over the ssh command, each an ssh process with a socket and two pipes) an
    open client holds after 20 sessions is the SDK's affair, not a bound of ours. Once the client
    is closed, every connection it pooled is gone; one a session kept or never gave back is not.
    """
    name, _ = remote
    before = len(os.listdir("/proc/self/fd"))
    children = _children()
    if name == "tls":
        client = rig.tls_client()
    else:
        client = rig.ssh_client(use_ssh_client=name == "ssh-command")

    def one() -> None:
        out = io.BytesIO()
        if name == "tls":  # no end of input over TLS: an exec that does not wait for it
            session = threadpty.Session.exec(
                client, box, "echo hello", stdout=out, interactive=False
            ).start()
            assert session.join(timeout=60) == 0 and out.getvalue() == b"hello\n"
            return
        session = threadpty.Session.exec(
            client, box, "cat", stdin=io.BytesIO(b"hello"), stdout=out, tty=False
        ).start()
        assert session.join(timeout=60) in (0, None)
        assert out.getvalue() == b"hello"

    with warnings.catch_warnings(record=True) as caught:
        # A socket dropped without being closed says so when it is collected; over the ssh
        # command the SDK's own pooled SSHSockets do so too, so only TLS can be held to none.
        warnings.simplefilter("always", ResourceWarning)
        try:
            for _ in range(20):
                one()
        finally:
            client.close()
        # urllib3 2's PoolManager.clear() forgets its pools without closing them; each pool
        # closes its connections when it is collected, and a session's hijacked response refers
        # to its pool.
        gc.collect()
    if name == "tls":
        # (Only the TLS client's sockets: the fixtures' unix clients are collected here too.)
        unclosed = [str(w.message) for w in caught if "SSLSocket" in str(w.message)]
        assert not unclosed, unclosed[:3]
    wait_for(lambda: len(os.listdir("/proc/self/fd")) <= before, 15, "the descriptors closing")
    wait_for(lambda: _children() <= children, 15, "the ssh processes ending")


def _children() -> int:
    me = str(os.getpid())
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # A zombie holds nothing but its entry: the SDK's SSHSocket terminates its ssh
            # without waiting for it.
            count += fields[1] == me and fields[0] != "Z"
    return count
