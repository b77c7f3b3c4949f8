"""``Session(record=...)`` against the real engine: the recording holds what the caller was given,
both streams without a TTY, the sizes applied, input only on request, and its file is closed
however the session ends. A bad ``record`` is refused before the engine is asked anything."""

from __future__ import annotations

import io
import json
import os
from typing import Any, Callable, List

import pytest

import threadpty

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("no_thread_left"),
    pytest.mark.timeout(120),
]


def events(text: str) -> List[Any]:
    header, *rest = (json.loads(line) for line in text.splitlines())
    assert header["version"] == 2
    return [header, *rest]


def output_of(cast: List[Any]) -> str:
    return "".join(text for _t, code, text in cast[1:] if code == "o")


def open_on(path: str) -> bool:
    """Whether this process holds ``path`` open."""
    fds = "/proc/self/fd"
    return any(os.path.realpath(os.path.join(fds, fd)) == path for fd in os.listdir(fds))


def test_tty_output_recorded_is_what_the_pipe_gave(client: Any, running: str) -> None:
    buf = io.StringIO()
    script = "printf 'gr\\303\\274n\\n'; seq 1 20000; printf end"
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", script], tty=True, interactive=False,
        size=(30, 100), stdout=threadpty.PIPE, record=buf,
    )  # fmt: skip
    out, err = s.communicate(timeout=60)
    assert err is None and out.endswith(b"end") and "grün".encode() in out
    cast = events(buf.getvalue())
    assert (cast[0]["width"], cast[0]["height"]) == (100, 30)
    assert output_of(cast) == out.decode("utf-8")
    assert not buf.closed  # a file given stays open
    # The one size is in the header; the engine has it from the start or as the first resize.
    assert {text for _t, code, text in cast[1:] if code == "r"} <= {"100x30"}


def test_no_tty_records_stdout_and_stderr_to_a_path(
    client: Any, make_container: Callable[..., str], tmp_path: Any
) -> None:
    cid = make_container(["sh", "-c", "echo out; sleep 0.1; echo err >&2; sleep 0.1; echo more"])
    path = str(tmp_path / "run.cast")
    s = threadpty.Session.run(client, cid, stdout=threadpty.PIPE,
                              stderr=threadpty.PIPE, record=path)  # fmt: skip
    out, err = s.communicate(timeout=60)
    assert (out, err, s.exit_code) == (b"out\nmore\n", b"err\n", 0)
    assert not open_on(path)  # the session opened it, so the session closed it
    with open(path, encoding="utf-8") as f:
        cast = events(f.read())
    assert (cast[0]["width"], cast[0]["height"]) == (80, 24)  # no TTY, no size
    assert output_of(cast) == "out\nerr\nmore\n"
    assert all(code == "o" for _t, code, _x in cast[1:])


@pytest.mark.parametrize("record_input", [False, True])
def test_input_only_on_request_and_resizes_applied(
    client: Any, running: str, record_input: bool
) -> None:
    buf = io.BytesIO()
    s = threadpty.Session.exec(
        client, running, ["sh"], tty=True, size=(24, 80), stdin=threadpty.PIPE,
        stdout=threadpty.PIPE, record=buf, record_input=record_input,
    )  # fmt: skip
    with s:
        s.stdin.write(b"PS1='$ '; stty size\n")
        s.stdin.flush()
        read_until(s.stdout, b"\r\n24 80\r\n")
        s.resize(40, 120)
        s.stdin.write(b"stty size\n")  # input waits for the size asked for before it
        s.stdin.flush()
        read_until(s.stdout, b"\r\n40 120\r\n")
        s.stdin.write(b"exit\n")
        s.stdin.flush()
        s.stdout.read()
    cast = events(buf.getvalue().decode("utf-8"))
    sizes = [text for _t, code, text in cast[1:] if code == "r"]
    assert sizes[-1] == "120x40", sizes
    inputs = "".join(text for _t, code, text in cast[1:] if code == "i")
    assert inputs == ("PS1='$ '; stty size\nstty size\nexit\n" if record_input else "")
    times = [t for t, _c, _x in cast[1:]]
    assert times == sorted(times)


def test_closed_session_closes_its_file(client: Any, running: str, tmp_path: Any) -> None:
    path = str(tmp_path / "closed.cast")
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", "echo up; sleep 60"], interactive=False,
        stdout=threadpty.PIPE, record=path,
    )  # fmt: skip
    s.start()
    assert s.stdout.readline() == b"up\n"
    assert open_on(path)
    s.close()
    assert not open_on(path)
    with open(path, encoding="utf-8") as f:
        assert output_of(events(f.read())) == "up\n"


@pytest.mark.parametrize(
    "options, error",
    [
        ({"record": 42}, TypeError),
        ({"record": b"/tmp/x.cast"}, TypeError),
        ({"record": "/nonexistent/folder/x.cast"}, ValueError),
        ({"record": "/"}, ValueError),
        ({"record": io.StringIO(), "record_input": "yes"}, TypeError),
        ({"record_input": True}, ValueError),
    ],
)
def test_bad_record_is_refused_before_the_engine(client: Any, options: Any, error: type) -> None:
    # An unknown container: had the engine been asked, NotFound would say so instead.
    with pytest.raises(error, match="record"):
        threadpty.Session.exec(client, "threadpty-no-such-container", ["true"], **options)
    with pytest.raises(error, match="record"):
        threadpty.Session.run(client, "threadpty-no-such-container", **options)


def read_until(stream: Any, pattern: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while pattern not in data:
        chunk = stream.read1(4096)
        assert chunk, f"the end came before {pattern!r}: {data[-200:]!r}"
        data += chunk
        assert len(data) < limit
    return data
