"""How a session is wired (``threadpty._plan``): the option rules, with no engine and no thread.

Every check here runs before a session asks the engine anything, so a bad option costs nothing;
these tests call the planning functions directly. ``Session(...)`` is made only where the rule is
that it refuses before reaching the engine (the client given is not one).
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, Iterator, Optional, Tuple

import pytest

import threadpty
from threadpty import PIPE, STDOUT, ThreadptyError
from threadpty._pipes import DEFAULT_LIMIT, OutputPipe
from threadpty._plan import (
    Streams,
    check_bufsize,
    check_size,
    exec_tty,
    make_target,
    plan_streams,
    readers,
    size_source,
    takes_input,
    wants_raw,
)
from threadpty._streams import CHUNK, PipeSink


class Unreachable:
    """A client the rules must refuse before using: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was asked ({name}) before the options were checked")


class FakeTarget:
    def __init__(self, tty: bool = True, stdin_open: bool = True) -> None:
        self.name = "fake0000"
        self.tty = tty
        self.stdin_open = stdin_open
        self.half_close_at_eof = not tty
        self.redraw = False

    def connect(self, stdin: bool, detach_keys: Optional[str]) -> Any:
        raise AssertionError("not connected in a plan")

    def begin(self) -> None: ...

    def resize(self, height: int, width: int) -> None: ...

    def exit_code(self) -> Optional[int]:
        return 0

    def is_gone(self) -> bool:
        return False

    def kill(self, signum: int) -> None: ...


@pytest.fixture
def terminal() -> Iterator[Tuple[Any, Any]]:
    """Both ends of a pseudo-terminal, as file objects: something ``isatty`` says yes to."""
    main, side = os.openpty()
    with os.fdopen(main, "rb", buffering=0) as m, os.fdopen(side, "r+b", buffering=0) as s:
        yield m, s


# The streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["stdout", "stdin"])
def test_stdout_is_for_stderr_only(where: str) -> None:
    with pytest.raises(ValueError, match="STDOUT is for stderr only"):
        plan_streams({where: STDOUT})


def test_stderr_to_stdout_shares_its_sink() -> None:
    out = io.BytesIO()
    plan = plan_streams({"stdout": out, "stderr": STDOUT})
    assert plan.err is plan.out and plan.out.obj is out


def test_stdin_pipe_needs_interactive() -> None:
    with pytest.raises(ValueError, match="interactive=True"):
        plan_streams({"stdin": PIPE, "interactive": False})


@pytest.mark.parametrize("bad", [5, "text", [1, 2], object()])
def test_stdin_must_be_something_to_read(bad: Any) -> None:
    with pytest.raises(TypeError, match="for stdin"):
        plan_streams({"stdin": bad})


def test_pipes_are_made_for_pipe_and_only_for_it() -> None:
    plan = plan_streams({"stdout": PIPE, "stderr": io.BytesIO(), "bufsize": 4096})
    assert isinstance(plan.out_pipe, OutputPipe) and plan.err_pipe is None
    assert isinstance(plan.out, PipeSink) and plan.out.pipe is plan.out_pipe
    assert plan.out_pipe._limit == 4096
    stdout, stderr = readers(plan)
    assert stdout is plan.out_pipe and stderr is None


def test_text_options_make_text_readers() -> None:
    for options in ({"text": True}, {"encoding": "latin-1"}, {"errors": "replace"}):
        plan = plan_streams({"stdout": PIPE, "stderr": PIPE, **options})
        assert plan.text
        stdout, stderr = readers(plan)
        assert isinstance(stdout, io.TextIOWrapper) and isinstance(stderr, io.TextIOWrapper)
    assert readers(plan_streams({"stdout": PIPE, "stderr": PIPE}))[0].read1  # binary


def test_none_is_the_processs_own_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err, inp = io.BytesIO(), io.BytesIO(), io.BytesIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", inp)
    plan = plan_streams({})
    assert plan.out.obj is out and plan.err.obj is err and plan.stdin_obj is inp
    assert plan.interactive and plan.stdin is None


def test_bad_detach_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="ctrl-nope"):
        plan_streams({"detach_keys": "ctrl-nope"})
    assert plan_streams({"detach_keys": "ctrl-x,x"}).detach_bytes == b"\x18x"
    assert plan_streams({}).detach_bytes == b"\x10\x11"


# Sizes and bufsize -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(24, 80), (1, 1), (65535, 65535), [30, 100]])
def test_good_sizes(size: Any) -> None:
    assert check_size(size) == tuple(size)


@pytest.mark.parametrize("size", [(0, 80), (24, 0), (65536, 80), (24.0, 80), (True, 80), (24,)])
def test_bad_sizes(size: Any) -> None:
    with pytest.raises(ValueError, match="a size is"):
        check_size(size)


def test_no_size_is_none_and_a_bad_one_fails_the_plan() -> None:
    assert check_size(None) is None
    with pytest.raises(ValueError):
        plan_streams({"size": (0, 0)})


@pytest.mark.parametrize(
    "given, limit", [(None, DEFAULT_LIMIT), (-1, DEFAULT_LIMIT), (0, CHUNK), (10, 10)]
)
def test_bufsize_as_popen_takes_it(given: Any, limit: int) -> None:
    assert check_bufsize(given) == limit


@pytest.mark.parametrize("bad", [1.5, "1", True])
def test_bufsize_must_be_an_integer(bad: Any) -> None:
    with pytest.raises(TypeError, match="bufsize"):
        check_bufsize(bad)


# The target, the TTY guess and the terminal ------------------------------------------------------


def test_exec_options_are_for_an_exec_only() -> None:
    plan = plan_streams({"stdout": io.BytesIO()})
    for options in ({"tty": True}, {"environment": {"A": "1"}}, {"user": "nobody"}):
        with pytest.raises(TypeError, match="are for an exec"):
            make_target(Unreachable(), "box", None, plan, **options)
    with pytest.raises(TypeError, match="logs is for attaching"):
        make_target(Unreachable(), "box", ["sh"], plan, logs=True)


def test_a_session_refuses_bad_options_before_the_engine() -> None:
    with pytest.raises(TypeError, match="are for an exec"):
        threadpty.Session(Unreachable(), "box", workdir="/tmp")
    with pytest.raises(ValueError, match="STDOUT"):
        threadpty.Session(Unreachable(), "box", ["sh"], stdout=STDOUT)
    with pytest.raises(ValueError, match="a size is"):
        threadpty.Session.exec(Unreachable(), "box", ["sh"], size=(0, 1))


def test_a_target_is_taken_as_it_is() -> None:
    target = FakeTarget()
    assert make_target(target, None, None, plan_streams({"stdout": io.BytesIO()})) is target


def test_the_tty_guess_needs_input_and_two_terminals(terminal: Tuple[Any, Any]) -> None:
    _, side = terminal
    assert exec_tty(plan_streams({"stdin": side, "stdout": side}))
    assert not exec_tty(plan_streams({"stdin": side, "stdout": side, "interactive": False}))
    assert not exec_tty(plan_streams({"stdin": side, "stdout": io.BytesIO()}))
    assert not exec_tty(plan_streams({"stdin": io.BytesIO(), "stdout": side}))


def test_input_to_a_target_without_stdin_is_refused() -> None:
    plan = plan_streams({"stdin": io.BytesIO()})
    with pytest.raises(ThreadptyError, match="without stdin open"):
        takes_input(FakeTarget(stdin_open=False), plan)  # type: ignore[arg-type]
    # stdin=None (the process's own) is no input asked for: no input, no error.
    quiet = plan_streams({})
    assert not takes_input(FakeTarget(stdin_open=False), quiet)  # type: ignore[arg-type]
    assert takes_input(FakeTarget(), plan)  # type: ignore[arg-type]
    assert not takes_input(FakeTarget(), plan_streams({"interactive": False}))  # type: ignore[arg-type]


def test_raw_mode_and_the_size_come_from_terminals_only(terminal: Tuple[Any, Any]) -> None:
    _, side = terminal
    at_terminal = plan_streams({"stdin": side, "stdout": side})
    assert wants_raw(FakeTarget(), at_terminal, reads_input=True)  # type: ignore[arg-type]
    assert not wants_raw(FakeTarget(tty=False), at_terminal, True)  # type: ignore[arg-type]
    assert not wants_raw(FakeTarget(), at_terminal, reads_input=False)  # type: ignore[arg-type]
    assert size_source(at_terminal, reads_input=True) is side
    piped: Streams = plan_streams({"stdin": side, "stdout": io.BytesIO()})
    assert size_source(piped, reads_input=True) is side  # stdin's, as it is read
    assert size_source(piped, reads_input=False) is None
    assert size_source(plan_streams({"stdin": io.BytesIO(), "stdout": io.BytesIO()}), True) is None
