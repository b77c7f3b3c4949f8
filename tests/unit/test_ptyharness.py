"""The PTY harness itself, against plain Python children (no Docker)."""

from __future__ import annotations

import termios
import textwrap
import time

import pytest

from ptyharness import PtyChild, strip_ansi


def code(body: str) -> str:
    return textwrap.dedent(body)


def test_initial_size_is_the_one_asked_for() -> None:
    with PtyChild("import os; s = os.get_terminal_size(); print('SIZE', s.lines, s.columns)") as p:
        p.expect(rb"SIZE (\d+) (\d+)")
        assert p.proc.match.groups() == (b"20", b"70")
        assert p.wait() == 0


def test_resize_sends_sigwinch_with_the_new_size() -> None:
    program = code(
        """
        import os, signal
        def winch(signum, frame):
            s = os.get_terminal_size()
            print("WINCH", s.lines, s.columns, flush=True)
        signal.signal(signal.SIGWINCH, winch)
        print("READY", flush=True)
        input()
        """
    )
    with PtyChild(program) as p:
        p.expect_exact("READY")
        p.resize(30, 100)
        p.expect_exact("WINCH 30 100")
        p.resize(12, 40)
        p.expect_exact("WINCH 12 40")
        p.sendline()
        assert p.wait() == 0


def test_typed_line_is_echoed_and_read() -> None:
    with PtyChild("print('GOT', repr(input('prompt> ')))") as p:
        p.expect_exact("prompt> ")
        p.sendline("hello world")
        p.expect_exact("GOT 'hello world'")
        assert p.wait() == 0
        # The terminal's own echo of what was typed, then the program's output.
        assert "prompt> hello world\nGOT 'hello world'\n" in p.transcript()


def test_control_bytes_reach_the_child_raw() -> None:
    program = code(
        """
        import os, sys, tty
        tty.setraw(0)
        print("RAW", flush=True)
        data = os.read(0, 2)
        print("BYTES", data.hex(), flush=True)
        """
    )
    with PtyChild(program) as p:
        p.expect_exact("RAW")
        p.send("\x10\x11")
        p.expect_exact("BYTES 1011")
        assert p.wait() == 0


@pytest.mark.parametrize(
    ("program", "status"),
    [
        ("pass", 0),
        ("raise SystemExit(7)", 7),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9),
    ],
)
def test_exit_status(program: str, status: int) -> None:
    with PtyChild(program) as p:
        assert p.wait() == status
        assert p.wait() == status  # idempotent


def test_wait_reads_output_bigger_than_the_pty_buffer() -> None:
    # Far more than a pty holds (~4-64 KiB): the child would block if wait() did not read.
    with PtyChild("import sys\nfor i in range(20000): print('line', i)\nprint('END')") as p:
        assert p.wait(timeout=60) == 0
        assert p.transcript().endswith("line 19999\nEND\n")


@pytest.mark.parametrize("restore", [False, True])
def test_termios_attrs_tells_raw_mode_left_on_from_restored(restore: bool) -> None:
    program = code(
        f"""
        import sys, termios, tty
        print("START", flush=True)
        sys.stdin.readline()
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        print("RAW", flush=True)
        sys.stdin.read(1)
        if {restore}:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        print("DONE", flush=True)
        """
    )
    with PtyChild(program) as p:
        p.expect_exact("START")
        before = p.termios_attrs()
        assert before[3] & termios.ECHO and before[3] & termios.ICANON
        p.sendline()
        p.expect_exact("RAW")
        during = p.termios_attrs()
        assert not during[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        assert not during[1] & termios.OPOST
        p.send("x")
        assert p.wait() == 0
        # Read through the master after the child exited and closed its terminal.
        after = p.termios_attrs()
        assert (after == before) is restore
        assert bool(after[3] & termios.ICANON) is restore


def test_expect_timeout_shows_the_cleaned_transcript() -> None:
    with PtyChild("print('\\x1b[1;31mhello\\x1b[0m there', flush=True); input()") as p:
        p.expect_exact("there")
        start = time.monotonic()
        with pytest.raises(AssertionError) as info:
            p.expect("never printed", timeout=0.2)
        assert time.monotonic() - start < 5
        assert "hello there" in str(info.value)
        assert "\x1b" not in str(info.value)


def test_expect_after_exit_fails_fast() -> None:
    with PtyChild("print('bye')") as p:
        with pytest.raises(AssertionError, match="closed its terminal"):
            p.expect_exact("never printed", timeout=20)


def test_wait_timeout_kills_the_child() -> None:
    p = PtyChild("import time; print('SLEEPING', flush=True); time.sleep(60)")
    try:
        p.expect_exact("SLEEPING")
        with pytest.raises(AssertionError, match="did not exit within"):
            p.wait(timeout=0.2)
        assert not p.proc.isalive()
        assert p.proc.signalstatus is not None
    finally:
        p.close()
        p.close()


def test_wait_when_the_child_closed_its_terminal_but_runs_on() -> None:
    # pexpect alone would block in waitpid() here, whatever the timeout.
    program = (
        "import os, time; print('X', flush=True); [os.close(i) for i in (0, 1, 2)]; time.sleep(60)"
    )
    with PtyChild(program) as p:
        p.expect_exact("X")  # then it closes its terminal at once: the wait meets that
        start = time.monotonic()
        with pytest.raises(AssertionError, match="did not exit within"):
            p.wait(timeout=0.2)
        assert time.monotonic() - start < 10


def test_wait_when_a_grandchild_holds_the_terminal() -> None:
    program = code(
        """
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("PARENT DONE", flush=True)
        """
    )
    with PtyChild(program) as p:
        start = time.monotonic()
        assert p.wait(timeout=20) == 0
        assert time.monotonic() - start < 10
        assert "PARENT DONE" in p.transcript()


def test_env_is_added_to_the_environment() -> None:
    with PtyChild(
        "import os; print(os.environ['PTYH_X'], 'PATH' in os.environ)", env={"PTYH_X": "marker"}
    ) as p:
        p.expect_exact("marker True")
        assert p.wait() == 0


def test_screen_renders_cursor_motion() -> None:
    pytest.importorskip("pyte")
    program = (
        "import sys; sys.stdout.write('abc\\x1b[2Dz\\r\\nnext\\x1b[4;3Hfour'); sys.stdout.flush()"
    )
    with PtyChild(program, rows=5, cols=20) as p:
        assert p.wait() == 0
        assert p.screen() == ["azc", "next", "", "  four", ""]


def test_strip_ansi() -> None:
    raw = (
        b"\x1b]0;title\x07\x1b[?1049h\x1b[1;32mgreen\x1b[0m\x1b(B\r\n"
        b"two\r\r\nthree\x1b=\x1b[K\x07\n"
    )
    assert strip_ansi(raw) == "green\ntwo\nthree\n"
    assert strip_ansi("caf\u00e9\r\n") == "caf\u00e9\n"
