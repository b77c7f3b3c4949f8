"""Sessions at a real terminal: a child process under a PTY runs threadpty, we type and read.

These are the dockerpty scenarios (prompt, echo, size, resize, exit, detach, re-attach), for run
and for exec, and the checks that the terminal and the caller's stdin are left as they were.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Callable

import pytest

from ptyharness import PtyChild, settle_size

pytestmark = pytest.mark.integration

PROMPT = "# "

# The child reports what the caller of threadpty would see: the result, threads left over, whether
# the terminal's attributes came back, and the next byte typed after the session.
CHILD = textwrap.dedent(
    """
    import os, sys, termios, threading, docker, threadpty
    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
    before_threads = threading.active_count()
    before_attrs = termios.tcgetattr(0)
    result = {call}
    after_attrs = termios.tcgetattr(0)
    print("\\r\\nRESULT", result, "THREADS", threading.active_count() - before_threads,
          "RESTORED", before_attrs == after_attrs, flush=True)
    print("NEXT", os.read(0, 1), flush=True)
    """
)


def child(call: str, **kwargs: Any) -> PtyChild:
    return PtyChild(CHILD.format(call=call), **kwargs)


def finish(p: PtyChild, result: str) -> None:
    """Check the session's result, no thread left, terminal restored, and stdin intact."""
    p.expect(rf"RESULT {re.escape(result)} THREADS 0 RESTORED True")
    p.send("Z\r")
    p.expect_exact("NEXT b'Z'")
    assert p.wait(timeout=10) == 0


def expect_size(p: PtyChild, rows: int, cols: int) -> None:
    """Ask the shell its size until it is ``rows cols``; fail if it never comes to be.

    A resize is an engine call and a keystroke a write on the stream, so a command typed at once
    may run before the resize lands (Podman's resizes are spaced 0.1 s apart, and a loaded engine
    is slow to answer): the last size must win, not win a race with the keyboard.
    """
    for _ in range(50):
        p.sendline("stty size")
        if p.expect(r"\r\n\d+ \d+\r\n").endswith(f"\r\n{rows} {cols}\r\n".encode()):
            return
        p.expect_exact(PROMPT)
    raise AssertionError(f"the size {rows} {cols} never reached the shell")


def shell_scenario(p: PtyChild) -> None:
    p.expect_exact(PROMPT)
    p.sendline("echo hel''lo")
    p.expect("\r\nhello\r\n")
    p.sendline("ls /nonexistent-dir")
    p.expect("No such file or directory")
    p.sendline("stty size")
    p.expect("\r\n20 70\r\n")
    p.resize(30, 100)
    expect_size(p, 30, 100)
    for rows, cols in [(21, 71), (22, 72), (23, 73), (24, 74), (25, 80)]:
        p.resize(rows, cols)
    expect_size(p, 25, 80)


@pytest.mark.smoke
def test_run_tty_shell(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        shell_scenario(p)
        p.sendline("exit")
        finish(p, "0")
    assert not client.inspect_container(cid)["State"]["Running"]


def test_run_tty_exit_status(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.expect_exact(PROMPT)
        p.sendline("exit 3")
        finish(p, "3")


def test_detach_and_attach_again(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.expect_exact(PROMPT)
        p.sendline("MARK=4$((1+1))")
        p.expect_exact(PROMPT)
        p.send("\x10\x11")
        finish(p, "None")
    assert client.inspect_container(cid)["State"]["Running"]
    # Attach again: the same shell, with the variable it was given.
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.sendline("echo mark=$MARK")
        p.expect_exact("mark=42")
        p.sendline("exit")
        finish(p, "0")


def test_container_that_ends_at_once(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/true", stdin_open=True, tty=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        finish(p, "0")


def test_attach_to_running_container(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True, start=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.sendline("echo attached")
        p.expect_exact("attached\r\n")
        # Attaching redraws by resizing to 21x71 and back; typing may overtake that, so ask
        # until the final size shows.
        settle_size(p, 20, 70)
        p.sendline("exit")
        finish(p, "0")


def test_logging_disabled_tty(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True, log_driver="none")
    with child(f"threadpty.start(client, {cid!r}, logs=True)") as p:
        p.expect_exact(PROMPT)
        p.sendline("echo nolog")
        p.expect_exact("nolog\r\n")
        p.sendline("exit")
        finish(p, "0")


def test_non_tty_cat_and_ctrl_d(client: Any, make_container: Callable) -> None:
    cid = make_container("cat", stdin_open=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.sendline("meow")
        # Once from the terminal's own echo, once from cat.
        p.expect("meow.*meow")
        p.send("\x04")
        finish(p, "0")
    assert not client.inspect_container(cid)["State"]["Running"]


def test_non_tty_sh_stdout_and_stderr(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.sendline("echo to-out; echo to-err >&2; exit 5")
        p.expect("to-out")
        p.expect("to-err")
        finish(p, "5")


def test_container_without_stdin_ignores_input(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "echo ready; sleep 1; echo done"], tty=True)
    with child(f"threadpty.start(client, {cid!r})") as p:
        p.expect_exact("ready")
        p.send("typed")  # not sent anywhere: the container has no stdin
        p.expect_exact("done")
        p.expect(r"RESULT 0 THREADS 0 RESTORED True")
        # What was typed is still the caller's to read.
        p.send("\r")
        p.expect_exact("NEXT b't'")
        assert p.wait(timeout=10) == 0


@pytest.mark.smoke
def test_exec_tty_shell(client: Any, running: str) -> None:
    with child(f"threadpty.exec_command(client, {running!r}, '/bin/sh')") as p:
        shell_scenario(p)
        p.sendline("exit 6")
        finish(p, "6")
    assert client.inspect_container(running)["State"]["Running"]


def test_exec_tty_detach(client: Any, running: str) -> None:
    with child(f"threadpty.exec_command(client, {running!r}, '/bin/sh')") as p:
        p.expect_exact(PROMPT)
        p.send("\x10\x11")
        finish(p, "None")


def test_exec_create_and_start_exec_non_tty(client: Any, running: str) -> None:
    call = (
        f"threadpty.start_exec(client, threadpty.exec_create(client, {running!r}, "
        "['sh', '-c', 'cat; echo e >&2; exit 2'], interactive=False), interactive=True)"
    )
    # A non-interactive exec has no stdin: typed input stays unread, output still comes.
    with child(call) as p:
        finish(p, "2")


def test_exec_non_tty_input(client: Any, running: str) -> None:
    call = f"threadpty.Session.exec(client, {running!r}, 'cat', tty=False).start().join()"
    with child(call) as p:
        p.sendline("purr")
        p.expect("purr.*purr")
        p.send("\x04")
        finish(p, "0")


def test_exec_true_race(client: Any, running: str) -> None:
    for _ in range(3):
        with child(f"threadpty.exec_command(client, {running!r}, '/bin/true')") as p:
            finish(p, "0")


def test_exec_non_interactive_output_ignores_typing(client: Any, running: str) -> None:
    call = (
        f"threadpty.exec_command(client, {running!r}, ['sh', '-c', 'echo start; sleep 1; "
        "echo end'], interactive=False)"
    )
    with child(call) as p:
        p.expect_exact("start")
        p.send("q")
        p.expect_exact("end")
        p.expect(r"RESULT 0 THREADS 0 RESTORED True")
        p.send("\r")
        p.expect_exact("NEXT b'q'")
        assert p.wait(timeout=10) == 0
    assert client.inspect_container(running)["State"]["Running"]


def test_seed_basic_usage(client: Any, make_container: Callable) -> None:
    """The seed's "Basic Usage" program, with APIClient for Client and one changed import."""
    program = textwrap.dedent(
        """
        import docker
        import threadpty as dockerpty

        client = docker.APIClient(**docker.utils.kwargs_from_env())
        container = client.create_container(
            image='threadpty-test/busybox:latest',
            stdin_open=True,
            tty=True,
            command='/bin/sh',
            labels={'io.threadpty.test': 'seed'},
        )

        dockerpty.start(client, container)
        print("CID", container["Id"], flush=True)
        """
    )
    with PtyChild(program) as p:
        p.expect_exact(PROMPT)
        p.sendline("echo seed-ok")
        p.expect_exact("seed-ok\r\n")
        p.sendline("exit")
        out = p.expect(r"CID ([0-9a-f]{64})")
        assert p.wait(timeout=10) == 0
    cid = re.search(rb"CID ([0-9a-f]{64})", out).group(1).decode()  # type: ignore[union-attr]
    client.remove_container(cid, force=True)
