"""``threadpty exec -it --record FILE`` at a real terminal: the file asciinema reads holds the
output at its time, the sizes applied, and the keystrokes only with ``--record-input``."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import time
from typing import Any, List, Tuple

import pytest

from conftest import IMAGE
from ptyharness import PtyChild, settle_size

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def pty_command(*args: str) -> PtyChild:
    code = f"""
        import sys
        from threadpty.cli import main
        sys.exit(main({list(args)!r}))
        """
    return PtyChild(textwrap.dedent(code))


def threadpty(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [sys.executable, "-m", "threadpty", *args],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def read_cast(path: str) -> Tuple[Any, List[Any]]:
    asciicast: Any = importlib.import_module("asciinema.asciicast")  # a test extra
    with asciicast.open_from_url(path) as cast:
        return cast.v2_header, list(cast.events())


@pytest.mark.parametrize("record_input", [False, True], ids=["output", "input-too"])
def test_exec_it_record(running: str, tmp_path: Any, record_input: bool) -> None:
    path = str(tmp_path / "session.cast")
    flags = ["--record", path] + (["--record-input"] if record_input else [])
    began = time.monotonic()
    with pty_command("exec", "-it", *flags, running, "sh") as p:
        p.expect_exact("# ")
        typed = time.monotonic() - began
        p.sendline("echo MA''RK")  # the echo of what is typed is not the mark
        p.expect_exact("MARK")
        seen = time.monotonic() - began
        p.resize(31, 91)
        settle_size(p, 31, 91)
        p.sendline("exit")
        assert p.wait() == 0
    took = time.monotonic() - began
    header, events = read_cast(path)
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    output = [(t, text) for t, code, text in events if code == "o"]
    marks = [t for t, text in output if "MARK" in text]
    # The file's clock starts after the command does, and the mark came between typing and seeing.
    assert marks and 0 < marks[0] <= seen + 0.5, (marks, seen)
    assert marks[0] >= typed - 5.0, (marks, typed)  # the command's start up is not in the file
    assert all(t <= took for t, _code, _text in events)
    assert [t for t, _c, _x in events] == sorted(t for t, _c, _x in events)
    sizes = [(t, text) for t, code, text in events if code == "r"]
    assert "91x31" in [text for _t, text in sizes], sizes
    assert next(t for t, text in sizes if text == "91x31") >= marks[0]
    inputs = "".join(text for _t, code, text in events if code == "i")
    if record_input:
        assert "echo MA''RK" in inputs and "exit" in inputs
    else:
        assert inputs == ""  # what the shell echoed is output; what was typed is not recorded


def test_record_to_a_file_that_cannot_be_made_touches_no_container(client: Any) -> None:
    name = f"threadpty-record-{os.getpid()}"
    bad = "/nonexistent/folder/x.cast"
    proc = threadpty("run", "--record", bad, "--name", name, "--network", "none", IMAGE, "true")
    assert proc.returncode == 125
    assert proc.stderr.startswith(f"threadpty: cannot create the recording {bad}: ".encode())
    assert proc.stderr.count(b"\n") == 1 and b"Traceback" not in proc.stderr
    assert not client.containers(all=True, filters={"name": name})


def test_record_input_needs_record() -> None:
    proc = threadpty("exec", "--record-input", "anything", "true")
    assert (proc.returncode, proc.stderr) == (1, b"threadpty: --record-input needs --record FILE\n")
