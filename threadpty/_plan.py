"""How a session is wired, decided before anything runs.

What ``Session(...)`` was given is checked here, all of it before the engine is asked anything,
and turned into a plan: which of stdin, stdout and stderr are a ``PIPE``, merged (``STDOUT``), the
caller's objects or the process's own; the sinks output goes to; whether an exec gets a TTY; the
target to drive; the caller's terminal the window size comes from. These are functions of what
they are given, with no thread and no engine (only :func:`make_target` asks the engine, after the
checks), so ``tests/unit/test_plan.py`` covers the rules in milliseconds.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, List, Mapping, Optional, Tuple, overload

from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._pipes import DEFAULT_LIMIT, PIPE, STDOUT, OutputPipe, reader
from ._record import Recording
from ._resize import Resizer
from ._streams import CHUNK, PipeSink, Sink, isatty, make_sink
from .errors import ThreadptyError
from .target import ContainerTarget, ExecTarget, Target
from .tty import size

log = logging.getLogger("threadpty")

Size = Tuple[int, int]


class Streams:
    """A session's streams, as planned from its options; read-only once made, but for
    ``recording``, set when the session starts.

    A plain class: a dataclass or a NamedTuple would turn every annotation into a ``ForwardRef``
    and compile it when ``threadpty`` is imported (see figure 8 of ``make bench``).
    """

    __slots__ = (
        "interactive", "stdin", "stdin_obj", "detach_keys", "detach_bytes", "size", "text",
        "encoding", "errors", "out_pipe", "err_pipe", "out", "err", "record", "record_input",
        "recording",
    )  # fmt: skip

    def __init__(
        self,
        *,
        interactive: bool,
        stdin: Any,
        stdin_obj: Any,
        detach_keys: Optional[str],
        detach_bytes: bytes,
        size: Optional[Size],
        text: bool,
        encoding: Optional[str],
        errors: Optional[str],
        out_pipe: Optional[OutputPipe],
        err_pipe: Optional[OutputPipe],
        out: Sink,
        err: Sink,
        record: Any = None,
        record_input: bool = False,
    ) -> None:
        self.interactive = interactive
        self.stdin = stdin  # as given: None, PIPE or an object to read
        self.stdin_obj = stdin_obj  # what input is read from (the process's own stdin for None)
        self.detach_keys = detach_keys  # as given, for the engine
        self.detach_bytes = detach_bytes  # the keys the session watches for
        self.size = size  # the first size, when given
        self.text, self.encoding, self.errors = text, encoding, errors
        self.out_pipe = out_pipe  # stdout=PIPE's pipe
        self.err_pipe = err_pipe  # stderr=PIPE's pipe
        self.out = out  # where stdout goes
        self.err = err  # where stderr goes: the same sink as ``out`` with stderr=STDOUT
        self.record = record  # the recording's path or file, as given (None: no recording)
        self.record_input = record_input
        self.recording: Optional[Recording] = None  # set once, when the session starts


def plan_streams(options: Mapping[str, Any]) -> Streams:
    """Check the stream options (see ``StreamOptions``) and make the pipes and sinks.

    Raises ``ValueError``/``TypeError`` for a bad stream, size, bufsize or detach keys.
    """
    interactive = bool(options.get("interactive", True))
    stdin, stdout, stderr = options.get("stdin"), options.get("stdout"), options.get("stderr")
    detach_keys = options.get("detach_keys")
    detach_bytes = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    first = check_size(options.get("size"))
    if stdout is STDOUT or stdin is STDOUT:
        raise ValueError("STDOUT is for stderr only")
    if stdin is PIPE and not interactive:
        raise ValueError("stdin=PIPE needs interactive=True")
    readable = hasattr(stdin, "read") or hasattr(stdin, "fileno")
    if stdin is not None and stdin is not PIPE and not readable:
        raise TypeError(
            f"expected a file object to read, PIPE or None for stdin, got {type(stdin).__name__}"
        )
    bufsize = check_bufsize(options.get("bufsize", -1))
    record = check_record(options.get("record"))
    record_input = options.get("record_input", False)
    if not isinstance(record_input, bool):
        raise TypeError(f"record_input must be True or False, got {type(record_input).__name__}")
    if record_input and record is None:
        raise ValueError("record_input needs record: a path or a file to record to")
    encoding, errors = options.get("encoding"), options.get("errors")
    text = bool(options.get("text", False) or encoding or errors)
    out_pipe = OutputPipe(bufsize) if stdout is PIPE else None
    err_pipe = OutputPipe(bufsize) if stderr is PIPE else None
    out = PipeSink(out_pipe) if out_pipe else make_sink(sys.stdout if stdout is None else stdout)
    if stderr is STDOUT:
        err = out
    elif err_pipe:
        err = PipeSink(err_pipe)
    else:
        err = make_sink(sys.stderr if stderr is None else stderr)
    return Streams(
        interactive=interactive,
        stdin=stdin,
        stdin_obj=sys.stdin if stdin is None else stdin,
        detach_keys=detach_keys,
        detach_bytes=detach_bytes,
        size=first,
        text=text,
        encoding=encoding,
        errors=errors,
        out_pipe=out_pipe,
        err_pipe=err_pipe,
        out=out,
        err=err,
        record=record,
        record_input=record_input,
    )


@overload
def check_size(value: Size) -> Size: ...


@overload
def check_size(value: Any) -> Optional[Size]: ...


def check_size(value: Any) -> Optional[Size]:
    """A window size (rows, cols), each from 1 to 65535; None stays None."""
    if value is None:
        return None
    try:
        rows, cols = value
    except (TypeError, ValueError):
        raise ValueError(f"a size is (rows, cols), got {value!r}") from None
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 for v in (rows, cols)
    ):
        raise ValueError(f"a size is two positive integers (rows, cols), got {value!r}")
    return rows, cols


def check_bufsize(value: Any) -> int:
    """The most bytes a PIPE holds for its reader, from ``bufsize`` as Popen takes it.

    None and negative values (Popen's default is -1) are the default bound; 0, Popen's
    "unbuffered", is the smallest that keeps the connection's reads whole, one chunk: reads and
    writes are unbuffered whatever the bound, and a smaller one holds the container back hardly
    sooner (the engine and the socket hold far more) while splitting output into more pieces.
    """
    if value is None:
        return DEFAULT_LIMIT
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"bufsize must be an integer, got {type(value).__name__}")
    if value < 0:
        return DEFAULT_LIMIT
    return value or CHUNK


def check_record(value: Any) -> Any:
    """``record`` as given, once it is None, a path whose folder exists, or an object to write.

    The file is opened when the session starts; a path that cannot be opened then fails the start
    before anything is started.
    """
    if value is None or (hasattr(value, "write") and not isinstance(value, (str, bytes))):
        return value
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise TypeError(
            f"record takes a path or a file object to write, got {type(value).__name__}"
        )
    path = os.fspath(value)
    if not path or os.path.isdir(path):
        raise ValueError(f"record needs a file's path, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot record to {path!r}: there is no folder {folder!r}")
    return value


def exec_tty(streams: Streams) -> bool:
    """The TTY an exec gets when not told: with input, and both stdin and stdout terminals, as
    ``docker exec -it`` would be used at a terminal."""
    return streams.interactive and isatty(streams.stdin_obj) and isatty(streams.out.obj)


def make_target(
    target: Any,
    container: Any,
    command: Any,
    streams: Streams,
    *,
    logs: Optional[bool] = None,
    tty: Optional[bool] = None,
    **exec_options: Any,
) -> Target:
    """The target a session drives: ``target`` itself when it is one, else the container's
    attach (no ``command``) or a new exec of ``command`` (an engine call).

    ``exec_options`` are ``environment``, ``workdir``, ``user`` and ``privileged``; they and
    ``tty`` are for an exec only, ``logs`` for an attach only (``TypeError`` otherwise, before
    anything is asked of the engine).
    """
    if container is None and isinstance(target, Target):
        return target
    if command is None:
        if tty is not None or any(exec_options.values()):
            raise TypeError("tty, environment, workdir, user and privileged are for an exec")
        return ContainerTarget(target, container, logs=logs)
    if logs is not None:
        raise TypeError("logs is for attaching to a container, not for an exec")
    return ExecTarget.create(
        target,
        container,
        command,
        stdin=streams.interactive,
        tty=exec_tty(streams) if tty is None else tty,
        detach_keys=streams.detach_keys,
        **exec_options,
    )


def takes_input(target: Target, streams: Streams) -> bool:
    """Whether the session sends input; ``ThreadptyError`` for input the target cannot take."""
    if streams.interactive and streams.stdin is not None and not target.stdin_open:
        kind = "exec" if isinstance(target, ExecTarget) else "container"
        raise ThreadptyError(
            f"{kind} {target.name} was created without stdin open, so it cannot take the input "
            "given; create it with stdin_open=True (exec: stdin=True), or pass "
            "interactive=False"
        )
    return streams.interactive and target.stdin_open


def wants_raw(target: Target, streams: Streams, reads_input: bool) -> bool:
    """Whether the caller's terminal goes raw: a TTY, with input read from a terminal."""
    return target.tty and reads_input and isatty(streams.stdin_obj)


def size_source(streams: Streams, reads_input: bool) -> Any:
    """The caller's terminal the window size comes from (stdout's, else stdin's when input is
    read from it); None: the program sizes it."""
    candidates = (streams.out.obj, streams.stdin_obj if reads_input else None)
    return next((o for o in candidates if isatty(o)), None)


def size_at_start(target: Target, first: Optional[Size], size_from: Any) -> Optional[Size]:
    """The first size, given to the engine with the start where it takes one (then the process
    has it from its first byte); None where it must be resized once running."""
    at_start = getattr(target, "size_at_start", None)
    if not target.tty or at_start is None:
        return None
    if first is None and size_from is not None:
        first = size(size_from)
    return first if first is not None and at_start(*first) else None


def readers(streams: Streams) -> Tuple[Any, Any]:
    """``session.stdout`` and ``session.stderr``: the PIPEs' reading ends (None: not a PIPE)."""
    text, encoding, errors = streams.text, streams.encoding, streams.errors
    out, err = streams.out_pipe, streams.err_pipe
    return (
        reader(out, text, encoding, errors) if out else None,
        reader(err, text, encoding, errors) if err else None,
    )


def make_resizer(
    target: Target,
    size_from: Any,
    first: Optional[Size],
    sized: Optional[Size],
    recording: Optional[Recording] = None,
) -> Optional[Resizer]:
    """The resize thread of a target with a TTY (None without): it follows the terminal
    ``size_from`` if there is one, starts at ``first`` when given, and leaves alone the size
    ``sized`` the engine was given with the start. Each size it applies goes to ``recording``
    once the engine has taken it: a size refused is not the container's."""
    if not target.tty:
        return None
    return Resizer(
        f"threadpty-resize-{target.name}",
        target.resize if recording is None else _recorded(target.resize, recording),
        target.is_gone,
        terminal_size=(lambda: size(size_from)) if size_from is not None else None,
        initial=first,
        redraw=target.redraw,
        applied=sized,
    )


def _recorded(resize: Callable[[int, int], None], rec: Recording) -> Callable[[int, int], None]:
    def apply(rows: int, cols: int) -> None:
        resize(rows, cols)
        rec.resize(rows, cols)  # only once the engine has taken it

    return apply


class RecordingSink(Sink):
    """Passes output on to the caller's sink, then to the recording: what is recorded is what was
    delivered. It is not a ``PipeSink``, so a PIPE's reader is never lent the connection (see
    ``_pump``) while a session records: every byte passes here, on the output thread."""

    def __init__(self, inner: Sink, record: Callable[[memoryview | bytes], None]) -> None:
        super().__init__(None)
        self.obj = inner.obj
        self._inner = inner
        self._record = record

    def write(self, data: memoryview | bytes) -> None:
        self._inner.write(data)
        self._record(data)

    def write_many(self, pieces: List[memoryview]) -> None:
        self._inner.write_many(pieces)
        self._record(b"".join(pieces))

    def finish(self) -> None:
        self._inner.finish()

    def abort(self) -> None:
        self._inner.abort()


def start_recording(
    target: Target, streams: Streams, first: Optional[Size], size_from: Any
) -> Optional[Recording]:
    """Open the session's recording, if it has one, and send its output there too.

    The header's size is the first size, the caller's terminal's, or 80x24 when none is known
    (without a TTY there is none). Without a TTY stdout and stderr are both recorded as output,
    as a terminal would show them. Raises what opening the file raised.
    """
    if streams.record is None:
        return None
    if first is None and target.tty and size_from is not None:
        first = size(size_from)
    rows, cols = first if first is not None and target.tty else (0, 0)
    rec = Recording(streams.record, cols, rows, record_input=streams.record_input)
    out = RecordingSink(streams.out, rec.output)
    streams.err = out if streams.err is streams.out else RecordingSink(streams.err, rec.output)
    streams.out, streams.recording = out, rec
    return rec


def end_recording(streams: Streams) -> None:
    """Close the recording (and its file, if the session opened it) once its writers are done."""
    rec = streams.recording
    if rec is None:
        return
    try:
        rec.close()
    except (OSError, ValueError) as exc:
        log.warning("the recording could not be closed: %s", exc)
