"""Resize and restore at a real terminal: sessions from threads, many at once, bursts, every exit
path, and the degraded mode that platforms without termios get."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any, Callable, Dict, Optional

import pytest

from conftest import docker_cli
from ptyharness import PtyChild, settle_size

pytestmark = pytest.mark.integration

PROMPT = "# "

PRELUDE = textwrap.dedent(
    """
    import os, signal, sys, termios, threading, docker, threadpty
    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
    before_threads = threading.active_count()
    before_attrs = termios.tcgetattr(0)

    def outcome(fn):
        try:
            return fn()
        except KeyboardInterrupt:
            return "KeyboardInterrupt"
        except Exception as exc:
            return "raised:%s:%s" % (type(exc).__name__, exc)

    def report(result, **extra):
        words = ["%s %s" % kv for kv in extra.items()]
        print("\\r\\nRESULT", result, *words, "THREADS", threading.active_count() - before_threads,
              "RESTORED", termios.tcgetattr(0) == before_attrs, flush=True)
    """
)


def child(body: str, env: Optional[Dict[str, str]] = None) -> PtyChild:
    return PtyChild(PRELUDE + textwrap.dedent(body), env=env)


def test_session_from_a_thread_follows_resize_by_polling(
    client: Any, make_container: Callable
) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    body = f"""
    res = {{}}
    def work():
        s = threadpty.Session.run(client, {cid!r}).start()
        res["subscribed"] = s._resizer.subscribed
        res["code"] = s.join()
    t = threading.Thread(target=work, name="caller")
    t.start()
    t.join()
    report(res["code"], SUBSCRIBED=res["subscribed"])
    """
    with child(body) as p:
        p.expect_exact(PROMPT)
        settle_size(p, 20, 70)
        p.resize(33, 101)
        settle_size(p, 33, 101)
        p.sendline("exit")
        p.expect("RESULT 0 SUBSCRIBED False THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_three_sessions_in_threads_follow_sigwinch(client: Any, running: str) -> None:
    script = (
        'echo ready-$N; trap \'s=$(stty size); echo "S$N $s"; [ "$s" = "33 99" ] && exit 0\' '
        "WINCH; while :; do sleep 0.05; done"
    )
    body = f"""
    def previous(signum, frame):
        pass
    signal.signal(signal.SIGWINCH, previous)
    res = {{}}
    def work(n):
        s = threadpty.Session.exec(client, {running!r}, ["sh", "-c", {script!r}],
                                   environment={{"N": str(n)}}, tty=True, interactive=False)
        s.start()
        res[n] = (s._resizer.subscribed, s.join())
    with threadpty.sigwinch():
        threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report(sorted(res.items()), BACK=signal.getsignal(signal.SIGWINCH) is previous)
    """
    with child(body) as p:
        seen = b""
        while not all(f"ready-{n}".encode() in seen for n in (1, 2, 3)):
            seen += p.expect(rb"ready-\d")
        p.resize(33, 99)
        # Each container's shell reports the size its own session applied.
        seen = b""
        while not all(f"S{n} 33 99".encode() in seen for n in (1, 2, 3)):
            seen += p.expect(rb"S\d \d+ \d+")
        p.expect(
            r"RESULT \[\(1, \(True, 0\)\), \(2, \(True, 0\)\), \(3, \(True, 0\)\)\] "
            r"BACK True THREADS 0 RESTORED True"
        )
        assert p.wait() == 0


def test_burst_of_ten_resizes_coalesces(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    body = f"""
    s = threadpty.Session.run(client, {cid!r}).start()
    code = s.join()
    report(code, CALLS=s._resizer.calls)
    """
    with child(body) as p:
        p.expect_exact(PROMPT)
        settle_size(p, 20, 70)
        for i in range(10):
            p.resize(21 + i, 71 + i)
        settle_size(p, 30, 80)
        p.sendline("exit")
        out = p.expect(r"RESULT 0 CALLS (\d+) THREADS 0 RESTORED True")
        assert p.wait() == 0
    calls = int(out.rsplit(b"CALLS ", 1)[1].split()[0])
    # One call for the size at start, then at most three for the burst of ten.
    assert 2 <= calls <= 4, calls


def test_resizes_while_output_floods(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"report(threadpty.start(client, {cid!r}))") as p:
        p.expect_exact(PROMPT)
        p.sendline("yes flood-line-of-text | head -n 200000; echo FLOOD''-END")
        p.expect_exact("flood-line-of-text")
        for i in range(20):
            p.resize(20 + i, 60 + i)
        p.expect_exact("FLOOD-END", timeout=120)
        settle_size(p, 39, 79)
        p.sendline("exit")
        p.expect("RESULT 0 THREADS 0 RESTORED True")
        assert p.wait() == 0


# Restore on every exit path --------------------------------------------------------------------


def test_restored_after_docker_kill(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"report(outcome(lambda: threadpty.start(client, {cid!r})))") as p:
        p.expect_exact(PROMPT)
        docker_cli("kill", cid)
        p.expect("RESULT 137 THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_restored_after_exception_in_a_worker(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    body = f"""
    import threadpty._streams as streams
    original = streams.Sink.write
    def write(self, data):
        if b"BOOM" in bytes(data):
            raise RuntimeError("injected")
        return original(self, data)
    streams.Sink.write = write
    report(outcome(lambda: threadpty.start(client, {cid!r})))
    """
    with child(body) as p:
        p.expect_exact(PROMPT)
        p.sendline("echo BO''OM")
        p.expect("RESULT raised:RuntimeError:injected THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_restored_after_keyboard_interrupt_in_join(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"report(outcome(lambda: threadpty.start(client, {cid!r})))") as p:
        p.expect_exact(PROMPT)
        p.proc.kill(signal.SIGINT)
        p.expect("RESULT KeyboardInterrupt THREADS 0 RESTORED True")
        assert p.wait() == 0
    # Closing the session leaves the container running, as a detach would.
    assert client.inspect_container(cid)["State"]["Running"]


def test_restored_after_keyboard_interrupt_between_start_and_join(
    client: Any, make_container: Callable
) -> None:
    # The gap a loaded CI machine once hit: Ctrl-C after start() returned, before join() began.
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    body = f"""
    started = threadpty.Session.start
    def start(self):
        started(self)
        os.kill(os.getpid(), signal.SIGINT)  # raised at the next instruction: inside the gap
        return self
    threadpty.Session.start = start
    report(outcome(lambda: threadpty.start(client, {cid!r})))
    """
    with child(body) as p:
        p.expect("RESULT KeyboardInterrupt THREADS 0 RESTORED True")
        assert p.wait() == 0
    assert client.inspect_container(cid)["State"]["Running"]


def test_restored_after_detach_on_exec(client: Any, running: str) -> None:
    with child(f"report(threadpty.exec_command(client, {running!r}, 'sh'))") as p:
        p.expect_exact(PROMPT)
        p.send("\x10\x11")
        p.expect("RESULT None THREADS 0 RESTORED True")
        assert p.wait() == 0


# The degraded mode (what Windows gets), forced on Linux -------------------------------------

FALLBACK = {"THREADPTY_FALLBACK": "1"}


def test_fallback_tty_shell(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with child(f"report(threadpty.start(client, {cid!r}))", env=FALLBACK) as p:
        p.expect_exact(PROMPT)
        # No raw mode here: the local terminal echoes and sends a line at a time.
        p.sendline("echo hel''lo")
        p.expect(r"\r+\nhello\r+\n")
        p.sendline("ls /nonexistent-dir")
        p.expect("No such file or directory")
        settle_size(p, 20, 70)
        p.resize(30, 100)  # followed by polling: there is no SIGWINCH in this mode
        settle_size(p, 30, 100)
        p.sendline("exit 4")
        p.expect("RESULT 4 THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_fallback_exec_shell_and_detach(client: Any, running: str) -> None:
    body = f"""
    s = threadpty.Session.exec(client, {running!r}, "sh", tty=True, detach_keys="ctrl-x,x")
    report(s.start().join())
    """
    with child(body, env=FALLBACK) as p:
        p.expect_exact(PROMPT)
        p.sendline("echo in-exec")
        p.expect(r"\r+\nin-exec\r+\n")
        # Without raw mode the keys arrive with the line, and the terminal itself takes ctrl-q
        # (flow control), so this uses other keys; the matcher still sees them.
        p.sendline("\x18x")
        p.expect("RESULT None THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_fallback_non_tty_cat(client: Any, make_container: Callable) -> None:
    cid = make_container("cat", stdin_open=True)
    with child(f"report(threadpty.start(client, {cid!r}))", env=FALLBACK) as p:
        p.sendline("meow")
        p.expect("meow.*meow")
        p.send("\x04")
        p.expect("RESULT 0 THREADS 0 RESTORED True")
        assert p.wait() == 0


def test_import_and_exec_without_termios_fcntl_tty(client: Any, running: str) -> None:
    code = textwrap.dedent(
        f"""
        import io, sys
        sys.modules.update(termios=None, fcntl=None, tty=None)
        import threadpty, docker
        try:
            import termios
        except ImportError:
            pass
        else:
            raise SystemExit("termios still importable")
        out, err = io.BytesIO(), io.BytesIO()
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
        s = threadpty.Session.exec(client, {running!r},
                                   ["sh", "-c", "echo hidden-ok; echo e >&2; exit 2"],
                                   stdout=out, stderr=err, interactive=False)
        print(s.start().join(), out.getvalue(), err.getvalue(), threadpty.size(sys.stdin))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2 b'hidden-ok\\n' b'e\\n' None"


def test_atexit_restores_a_terminal_still_held(client: Any, make_container: Callable) -> None:
    """A program that exits while a session still runs gets its terminal back from atexit."""
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    body = f"""
    s = threadpty.Session.run(client, {cid!r}).start()
    # One write, so the container's output cannot land between the words.
    sys.stdout.write("\\r\\nRAW %s\\r\\n" % (termios.tcgetattr(0) != before_attrs))
    sys.stdout.flush()
    sys.exit(0)
    """
    with child(body) as p:
        before = p.termios_attrs()
        p.expect("RAW True")
        assert p.wait() == 0
        assert p.termios_attrs() == before


def test_restored_when_the_container_cannot_start(client: Any, make_container: Callable) -> None:
    cid = make_container("/no/such/program", stdin_open=True, tty=True)
    with child(f"report(outcome(lambda: threadpty.start(client, {cid!r})))") as p:
        p.expect(r"RESULT raised:APIError:.*THREADS 0 RESTORED True")
        assert p.wait() == 0


@pytest.mark.timeout(300)
def test_100_tty_execs_at_once_all_at_their_size(running: str, capfd: Any) -> None:
    """100 TTY execs started at once, each with a size of its own, each answering `stty size`
    typed first thing. Where the engine takes the size with the start (API 1.42+) it is there
    from the first byte; elsewhere the first size is retried until the process runs (under this
    load that can take seconds), and the input waits for it. Nothing reaches stderr."""
    import logging
    import threading

    import docker

    import threadpty

    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto", max_pool_size=128)
    n = int(os.environ.get("TTY_N", "100"))
    sizes = {i: (10 + i % 50, 40 + i) for i in range(n)}
    answers: Dict[int, Any] = {}
    go = threading.Barrier(n)
    records: list = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    logger = logging.getLogger("threadpty")
    logger.addHandler(keep)
    level = logger.level
    logger.setLevel(logging.DEBUG)

    def one(i: int) -> None:
        try:
            go.wait(timeout=60)
            with threadpty.Session.exec(
                client,
                running,
                ["sh"],
                tty=True,
                stdin=threadpty.PIPE,
                stdout=threadpty.PIPE,
                size=sizes[i],
            ) as s:
                out, _ = s.communicate(b"stty size; exit\n", timeout=240)
            answers[i] = out
        except BaseException as exc:  # noqa: BLE001 - reported below with its session
            answers[i] = exc

    threads = [threading.Thread(target=one, args=(i,), name=f"tty-{i}") for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=280)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
        client.close()
    wrong = {
        i: a
        for i, a in answers.items()
        if not isinstance(a, bytes) or f"{sizes[i][0]} {sizes[i][1]}".encode() not in a
    }
    assert len(answers) == n and not wrong, f"{len(wrong)} of {n} wrong: {list(wrong.items())[:5]}"
    assert capfd.readouterr().err == ""
    retried = sum(1 for r in records if "not applied" in r.getMessage())
    print(f"API {client.api_version}: first sizes retried {retried} times")


def test_library_warnings_never_reach_the_programs_stderr() -> None:
    """A size the engine refused is logged on the ``threadpty`` logger; a program that set up
    no logging must not find it on its stderr (Python's last-resort handler would print it)."""
    code = (
        "import logging, threadpty\n"
        "logging.getLogger('threadpty').warning('failed to resize the tty to 24x80: refused')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, b"")
