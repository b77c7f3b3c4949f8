"""The `threadpty` command and signals, at a real terminal, each case compared with the CLI 28's."""

from __future__ import annotations

import os
import signal
import textwrap
from typing import Any, Callable, List

import docker.errors
import pytest

from conftest import IMAGE
from ptyharness import PtyChild

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TRAPS = (
    "trap 'echo got-int; exit 3' INT; trap 'echo got-term' TERM; trap 'echo got-hup' HUP; "
    "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done"
)


def command(*args: str) -> PtyChild:
    """The command at a PTY; it prints "starting" first, before it touches the terminal."""
    code = textwrap.dedent(
        f"""
        import sys
        print("starting", flush=True)
        from threadpty.cli import main
        sys.exit(main({list(args)!r}))
        """
    )
    return PtyChild(code)


def run_args(name: str, *cmd: str, flags: tuple = ("-it",)) -> List[str]:
    return ["run", *flags, "--rm", "--name", name, "--network", "none", IMAGE, *cmd]


def gone(client: Any, name: str) -> bool:
    return not client.containers(all=True, filters={"name": name})


def test_run_it_forwards_term_hup_usr1_and_stays_attached(client: Any, name: str) -> None:
    with command(*run_args(name, "sh", "-c", TRAPS)) as p:
        before = p.termios_attrs()
        p.expect_exact("ready")
        for signum, said in [(signal.SIGTERM, "got-term"), (signal.SIGHUP, "got-hup")]:
            os.kill(p.pid, signum)
            p.expect_exact(said)
        os.kill(p.pid, signal.SIGUSR1)
        p.expect_exact("got-usr1")
        p.send("\x03")  # a byte while raw: the container's terminal makes it its SIGINT
        p.expect_exact("got-int")
        assert p.wait() == 3
        assert p.termios_attrs() == before
        assert "Traceback" not in p.transcript()
    assert gone(client, name)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 0), (signal.SIGHUP, -signal.SIGHUP)])
def test_exec_it_term_and_hup_end_it_with_the_terminal_restored(
    running: str, signum: int, status: int
) -> None:
    # CLI 28: SIGTERM -> status 0, the terminal sane; SIGHUP -> killed by it (129), and it leaves
    # the terminal raw where no interactive shell repairs it. We restore it in both cases.
    with command("exec", "-it", running, "sh") as p:
        before = p.termios_attrs()
        p.expect_exact("# ")
        assert p.termios_attrs() != before  # raw
        os.kill(p.pid, signum)
        assert p.wait() == status
        assert p.termios_attrs() == before
        assert "Traceback" not in p.transcript()


def test_third_int_or_term_forces_the_exit(client: Any, name: str) -> None:
    trap_all = "trap 'echo got' INT TERM; echo ready; while :; do sleep 0.1; done"
    with command(*run_args(name, "sh", "-c", trap_all)) as p:
        before = p.termios_attrs()
        p.expect_exact("ready")
        os.kill(p.pid, signal.SIGINT)
        p.expect_exact("got")
        os.kill(p.pid, signal.SIGTERM)
        p.expect_exact("got")
        os.kill(p.pid, signal.SIGINT)
        p.expect_exact("got 3 SIGTERM/SIGINTs, forcefully exiting")
        assert p.wait() == 1  # the CLI's
        assert p.termios_attrs() == before
    # As with the CLI, the container goes on; AutoRemove takes it once it ends.
    client.kill(name)
    try:
        client.wait(name, condition="removed", timeout=20)
    except docker.errors.NotFound:
        pass  # removed before the wait was registered: gone either way
    with pytest.raises(docker.errors.NotFound):
        client.inspect_container(name)


@pytest.mark.parametrize(
    "args",
    [
        ["exec", "-i", "{running}", "sh"],
        ["attach", "--no-stdin", "{tty}"],
        ["attach", "--no-sig-proxy", "{notty}"],
    ],
    ids=["exec -i", "attach --no-stdin (TTY)", "attach --no-sig-proxy"],
)
def test_ctrl_c_ends_quietly(
    client: Any, running: str, make_container: Callable, args: List[str]
) -> None:
    names = {
        "running": running,
        "tty": make_container("sh", tty=True, stdin_open=True, start=True),
        "notty": make_container("sleep 3600", stdin_open=True, start=True),
    }
    with command(*[a.format(**names) for a in args]) as p:
        p.expect_exact("starting")
        # No terminal is raw here, so Ctrl-C is the terminal's SIGINT, for the whole group.
        # Type a line first: once the container has it, the session is surely running.
        if args[0] == "exec":
            p.sendline("echo in''side")
            p.expect_exact("inside")
        else:
            _wait_attached(client, names[args[-1][1:-1]])
        p.send("\x03")
        assert p.wait() == 0  # the CLI's exec -i; attach: as a detach
        assert "Traceback" not in p.transcript()
    for cid in (names["tty"], names["notty"], running):
        assert client.inspect_container(cid)["State"]["Running"]


def _wait_attached(client: Any, cid: str) -> None:
    # The engine's events would do; counting attached streams is not exposed, so ask the engine
    # to list the container's attach events since it was made.
    import time

    since = int(time.time()) - 60
    events = client.events(since=since, filters={"container": cid, "event": "attach"}, decode=True)
    try:
        for _ in events:
            return
    finally:
        events.close()


def test_sigtstp_restores_then_re_raws(running: str) -> None:
    # Job control needs a process group with a parent in the same session (an orphaned group
    # ignores SIGTSTP): a tiny shell in the PTY runs the command as its foreground job.
    code = textwrap.dedent(
        f"""
        import os, signal, sys, termios
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        cmd = [sys.executable, "-m", "threadpty", "exec", "-it", {running!r}, "sh"]
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            os.tcsetpgrp(0, os.getpid())
            signal.signal(signal.SIGTTOU, signal.SIG_DFL)
            os.execv(sys.executable, cmd)
        os.setpgid(pid, pid)
        print("job", pid, flush=True)
        _, st = os.waitpid(pid, os.WUNTRACED)
        assert os.WIFSTOPPED(st), st
        os.tcsetpgrp(0, os.getpgrp())
        lflag = termios.tcgetattr(0)[3]
        print("stopped", "cooked" if lflag & termios.ICANON else "raw", flush=True)
        os.tcsetpgrp(0, pid)
        os.killpg(pid, signal.SIGCONT)
        _, st = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(st))
        """
    )
    with PtyChild(code) as p:
        before = p.termios_attrs()
        job = int(p.expect(rb"job (\d+)").split()[-1])
        p.expect_exact("# ")
        os.kill(job, signal.SIGTSTP)
        p.expect_exact("stopped cooked")
        p.sendline("echo af''ter")  # works, and raw again: no local echo of the line
        p.expect_exact("after")
        assert p.termios_attrs() != before
        p.sendline("exit 6")
        assert p.wait() == 6
        assert p.termios_attrs() == before
        assert "Traceback" not in p.transcript()
