"""``threadpty.testing``: a target whose container is a Python function, for programs' own tests.

Its examples (README's and the module docstring's) run here; then what a session asks of it
(input and its end, stdout and stderr frames, a TTY's raw stream and sizes, close while the
program waits), and that ``import threadpty`` leaves it out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

import threadpty
from threadpty import PIPE, Session
from threadpty.testing import FakeProcess, FakeTarget

pytestmark = [pytest.mark.usefixtures("no_thread_left"), pytest.mark.timeout(30)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_section(name: str) -> str:
    with open(os.path.join(ROOT, "README.rst"), encoding="utf-8") as f:
        text = f.read()
    return text[text.index(f".. docs: {name} begins") : text.index(f".. docs: {name} ends")]


def literal_blocks(text: str) -> list:
    """The indented blocks after ``.. code-block:: python`` or a paragraph ending in ``::``."""
    found = re.findall(r"(?:\.\. code-block:: python|::)\n\n((?:    .*\n|\n)+)", text)
    return [textwrap.dedent(block) for block in found]


def test_the_readme_example_runs() -> None:
    (code,) = literal_blocks(readme_section("testing"))
    assert "FakeTarget(shell)" in code
    exec(compile(code, "README.rst", "exec"), {})


def test_the_docstring_example_runs() -> None:
    import threadpty.testing

    (code,) = literal_blocks(threadpty.testing.__doc__ or "")
    exec(compile(code, "threadpty/testing.py", "exec"), {})


def test_it_is_a_target() -> None:
    assert isinstance(FakeTarget(), threadpty.Target)


def test_scripted_bytes_then_exit_0() -> None:
    with Session(FakeTarget(b"hello\n"), stdout=PIPE, interactive=False) as session:
        assert session.stdout.read() == b"hello\n"
    assert session.join(timeout=10) == 0


def test_stdout_and_stderr_are_frames_of_their_streams() -> None:
    def both(process: FakeProcess) -> int:
        process.write(b"out\n")
        process.write_stderr(b"err\n")
        return 5

    session = Session(FakeTarget(both), stdout=PIPE, stderr=PIPE, interactive=False)
    with session:
        out, err = session.communicate()
    assert (out, err, session.exit_code) == (b"out\n", b"err\n", 5)


def test_a_tty_is_one_raw_stream_and_gets_the_sizes() -> None:
    target = FakeTarget(lambda p: p.write(f"{p.readline()!r} {p.size}\n".encode()), tty=True)
    with Session(target, size=(24, 80), stdin=PIPE, stdout=PIPE) as session:
        deadline = time.monotonic() + 10
        while not target.sizes:  # the first size goes on the session's resize thread
            assert time.monotonic() < deadline, "the session never sized the TTY"
            time.sleep(0.01)
        session.stdin.write(b"line\n")
        assert session.stdout.read() == b"b'line\\n' (24, 80)\n"
    assert session.join(timeout=10) == 0 and target.sizes[0] == (24, 80)


def test_the_end_of_input_reaches_the_program() -> None:
    target = FakeTarget(lambda p: p.write(b"%d bytes\n" % len(b"".join(iter(p.read, b"")))))
    with Session(target, stdin=PIPE, stdout=PIPE) as session:
        out, _ = session.communicate(b"x" * 300_000)
    assert out == b"300000 bytes\n" and target.stdin is True


def test_an_error_in_the_program_is_status_1_and_kept() -> None:
    def broken(process: FakeProcess) -> int:
        raise ValueError("the program's bug")

    target = FakeTarget(broken)
    with Session(target, stdout=PIPE, interactive=False) as session:
        assert session.stdout.read() == b""
    assert session.join(timeout=10) == 1
    assert isinstance(target.error, ValueError)


def test_close_while_the_program_waits_for_input_ends_its_thread() -> None:
    target = FakeTarget(lambda p: p.write(p.read()))
    session = Session(target, stdin=PIPE, stdout=PIPE).start()
    session.close()
    deadline = time.monotonic() + 10
    while not target.is_gone():
        assert time.monotonic() < deadline, "the program's thread outlived its session"
        time.sleep(0.01)


def test_a_target_serves_one_session() -> None:
    target = FakeTarget()
    with Session(target, stdout=PIPE, interactive=False) as session:
        session.communicate()
    with pytest.raises(RuntimeError, match="one session"):
        Session(target, stdout=PIPE, interactive=False).start()


def test_import_threadpty_leaves_it_out() -> None:
    code = "import sys, threadpty\nprint('threadpty.testing' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.stdout.strip() == "False", proc.stderr
