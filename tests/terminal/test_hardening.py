"""What outside use found: each test failed before its fix.

Terminal and signal-handler checks run in a child under a real PTY; the rest in this process
against the real engine.
"""

from __future__ import annotations

import io
import socket
import threading
from typing import Any, Callable, List

import pytest

import threadpty
from threadpty._connection import Connection

from doubles import FakeTarget
from ptyharness import PtyChild

pytestmark = [pytest.mark.integration]

ECHOES = "echo first; sleep 0.05; echo second; sleep 0.05; echo third"


# A writer that keeps what it is given ----------------------------------------------------


class Keeper:
    def __init__(self) -> None:
        self.parts: List[Any] = []

    def write(self, data: Any) -> None:
        self.parts.append(data)


@pytest.mark.usefixtures("no_thread_left")
@pytest.mark.parametrize("tty", [False, True])
def test_writer_that_keeps_chunks_gets_bytes_of_its_own(
    client: Any, running: str, tty: bool
) -> None:
    out = Keeper()
    code = (
        threadpty.Session.exec(
            client, running, ["sh", "-c", ECHOES], tty=tty, interactive=False, stdout=out
        )
        .start()
        .join()
    )
    assert code == 0
    assert all(type(p) is bytes for p in out.parts)
    text = b"".join(out.parts).decode()
    assert text.replace("\r\n", "\n") == "first\nsecond\nthird\n"


# The caller's SIGWINCH handler and terminal ------------------------------------------

HANDLERS = """
import os, signal, sys, termios, threading, docker, threadpty
client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
cid = {cid!r}
def mine(signum, frame):
    pass
signal.signal(signal.SIGWINCH, mine)
before = termios.tcgetattr(0)

def session(keys=None):
    return threadpty.Session.exec(client, cid, ["sh"], tty=True, detach_keys=keys)

def check(label):
    print(label, "HANDLER", signal.getsignal(signal.SIGWINCH) is mine,
          "TERMINAL", termios.tcgetattr(0) == before, flush=True)
"""


def test_sigwinch_handler_given_back_on_every_way_out(running: str) -> None:
    code = (
        HANDLERS.format(cid=running)
        + """
s = session(); s.start(); s.close(); check("CLOSE")
s = session(); s.start(); os.write(1, b"READY-EXIT\\r\\n"); s.join(); check("EXIT")
s = session(); s.start(); os.write(1, b"READY-DETACH\\r\\n"); s.join(); check("DETACH")
try:
    with session() as s:
        raise RuntimeError("in the block")
except RuntimeError:
    check("EXCEPTION")
s = session(); s.start()
threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,)).start()
try:
    s.join()
except KeyboardInterrupt:
    check("INTERRUPT")
s = session(); s.start()
def theirs(signum, frame):
    pass
signal.signal(signal.SIGWINCH, theirs)
s.close()
print("KEPT", signal.getsignal(signal.SIGWINCH) is theirs, flush=True)
"""
    )
    with PtyChild(code) as p:
        p.expect("CLOSE HANDLER True TERMINAL True")
        p.expect("READY-EXIT")
        p.expect_exact("# ")
        p.sendline("exit")
        p.expect("EXIT HANDLER True TERMINAL True")
        p.expect("READY-DETACH")
        p.expect_exact("# ")
        p.send("\x10\x11")
        p.expect("DETACH HANDLER True TERMINAL True")
        p.expect("EXCEPTION HANDLER True TERMINAL True")
        p.expect("INTERRUPT HANDLER True TERMINAL True")
        p.expect("KEPT True")
        assert p.wait(timeout=10) == 0


@pytest.mark.parametrize("order", ["thread-first", "main-first"])
def test_overlapping_sessions_on_one_terminal_give_it_back(running: str, order: str) -> None:
    code = (
        HANDLERS.format(cid=running)
        + f"""
b = session(); t = threading.Thread(target=b.start); t.start(); t.join()
a = session(); a.start()
raw = termios.tcgetattr(0)
print("RAW", not (raw[3] & termios.ICANON), flush=True)
first, second = (b, a) if {order!r} == "thread-first" else (a, b)
closer = threading.Thread(target=first.close); closer.start(); closer.join()
print("STILL-RAW", termios.tcgetattr(0) == raw, flush=True)
second.close()
check("BOTH")
"""
    )
    with PtyChild(code) as p:
        p.expect("RAW True")
        p.expect("STILL-RAW True")
        p.expect("BOTH HANDLER True TERMINAL True")
        assert p.wait(timeout=10) == 0


# The library side: input raw whenever stdin is a terminal --------------------------------


def test_input_side_raw_when_only_stdin_is_a_terminal(running: str, tmp_path: Any) -> None:
    out = tmp_path / "out"
    code = f"""
import termios, docker, threadpty
client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
before = termios.tcgetattr(0)
with open({str(out)!r}, "wb") as f:
    s = threadpty.Session.exec(client, {running!r}, ["sh"], tty=True, stdout=f)
    s.start()
    attrs = termios.tcgetattr(0)
    print("RAW", not (attrs[3] & (termios.ICANON | termios.ECHO)), flush=True)
    code = s.join()
print("CODE", code, "SAME", termios.tcgetattr(0) == before, flush=True)
"""
    with PtyChild(code) as p:
        p.expect("RAW True")
        p.sendline("echo out-of-band; exit 6")
        p.expect("CODE 6 SAME True")
        assert p.wait(timeout=10) == 0
    assert b"out-of-band" in out.read_bytes()


# The library side: no stdout, no stdin ---------------------------------------------------


@pytest.mark.usefixtures("no_thread_left")
def test_no_stdout_and_closed_stdin(client: Any, running: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("sys.stdout", None)
    assert threadpty.exec_command(client, running, ["sh", "-c", "echo x; exit 3"], False) == 3
    monkeypatch.undo()
    monkeypatch.setattr("sys.stdin", None)
    out = io.BytesIO()
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", "cat; echo eof-seen"], tty=False, stdout=out
    )
    assert s.start().join(timeout=30) == 0
    assert out.getvalue() == b"eof-seen\n"


# close() and join() at awkward moments -----------------------------------------


@pytest.mark.usefixtures("no_thread_left")
def test_close_while_start_runs_ends_the_session(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "sleep 1; exit 7"])
    s = threadpty.Session.run(client, cid, interactive=False, stdout=io.BytesIO())
    real_begin = s.target.begin
    closed = threading.Event()

    def begin() -> None:
        def close() -> None:
            s.close()
            closed.set()

        closer = threading.Thread(target=close, name="test-closer")
        closer.start()
        while not s._life.closing:  # the closer is in: it now waits for start() to notice
            closer.join(0.01)
        real_begin()

    s.target.begin = begin  # type: ignore[method-assign]
    assert s.start() is s
    assert closed.wait(10)
    assert s.join(timeout=10) is None
    assert not s.running and s.exit_code is None and s.state is threadpty.State.ENDED


@pytest.mark.usefixtures("no_thread_left")
def test_close_ends_a_session_whose_writer_is_stalled(client: Any, running: str) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Stalled:
        def write(self, data: bytes) -> None:
            entered.set()
            release.wait(30)

    s = threadpty.Session.exec(
        client, running, ["sh", "-c", "echo hi; sleep 600"], interactive=False, stdout=Stalled()
    )
    s.start()
    assert entered.wait(10)
    s.close()
    try:
        assert not s.running
        assert s.join(timeout=5) is None
    finally:
        release.set()


def test_join_after_a_failed_start_raises(client: Any) -> None:
    import docker.errors

    ident = client.create_container("threadpty-test/busybox:latest", "true")["Id"]
    s = threadpty.Session.run(client, ident, interactive=False, stdout=io.BytesIO())
    client.remove_container(ident, force=True)
    with pytest.raises(docker.errors.NotFound):
        s.start()
    with pytest.raises(docker.errors.NotFound):
        s.join()


# Detach keys everywhere ---------------------------------------------------------------------


def test_detach_keys_on_every_entry_point(client: Any, running: str) -> None:
    before = client.inspect_container(running)["ExecIDs"] or []
    bad = "ctrl-nope"
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.exec_command(client, running, "true", detach_keys=bad)
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.start(client, running, detach_keys=bad)
    assert (client.inspect_container(running)["ExecIDs"] or []) == before  # nothing made
    exec_id = threadpty.exec_create(client, running, "true", interactive=False)
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.start_exec(client, exec_id, detach_keys=bad)
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.ExecOperation(client, exec_id, detach_keys=bad)
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.RunOperation(client, running, detach_keys=bad)
    op = threadpty.ExecOperation(client, exec_id, interactive=False, stdout=io.BytesIO())
    with pytest.raises(ValueError, match="ctrl-nope"):
        threadpty.PseudoTerminal(client, op, detach_keys=bad)
    assert threadpty.PseudoTerminal(client, op, detach_keys="ctrl-x,x").start() == 0


# Text streams in another encoding ---------------------------------------------------------


@pytest.mark.usefixtures("no_thread_left")
@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_text_stream_in_another_encoding_gets_text(
    client: Any, running: str, encoding: str
) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding=encoding)
    script = "printf 'caf\\303\\251\\n'"
    code = (
        threadpty.Session.exec(client, running, ["sh", "-c", script], interactive=False, stdout=out)
        .start()
        .join()
    )
    out.flush()
    assert code == 0
    assert raw.getvalue().decode(encoding) == "café\n"


# A detach and an exit at the same moment: one outcome -------------------------------------


@pytest.mark.usefixtures("no_thread_left")
def test_detach_racing_the_exit_has_one_outcome() -> None:
    outcomes = set()
    for _ in range(40):
        ours, theirs = socket.socketpair()
        s = threadpty.Session(
            FakeTarget(tty=True, stdin_open=True),
            sockets=Connection(ours),
            stdin=io.BytesIO(b"\x10\x11"),
            stdout=io.BytesIO(),
        )
        s.start()
        theirs.close()  # the container ends as the detach keys are read
        code = s.join(timeout=10)
        assert not s.running
        assert not (s.detached and s.exit_code is not None)
        outcomes.add("detached" if s.detached else code)
    assert outcomes <= {"detached", 0}
