"""`threadpty web`'s wire protocol, spoken by a WebSocket client to a real server and engine.

The server is the real command in a child process (`threadpty web --exec BOX`), so its RSS is its
own and Ctrl-C is what a user would send.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any, Iterator

import pytest

from conftest import IMAGE, docker_cli
from webrig import Reader, WebServer, _dump_threads, shells, start, web_server

pytest.importorskip("websockets")
# The flood is 64 MiB through a TTY in small chunks: slow on a shared, loaded 2-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MiB = 1 << 20
PROMPT = rb"# "


@pytest.fixture(scope="module")
def server(box: str) -> Iterator[WebServer]:
    with web_server("--exec", box) as s:
        yield s


def test_starts_at_the_size_given_and_follows_resizes(server: WebServer) -> None:
    with server.ws() as ws:
        r = Reader(ws)
        start(ws, 30, 100)
        ws.send(b"stty size\n")
        assert b"30 100" in r.until(rb"\d+ \d+\r\n")
        ws.send(json.dumps({"type": "resize", "rows": 40, "cols": 120}))
        ws.send(b"stty size\n")
        assert b"40 120" in r.until(rb"\d+ \d+\r\n")


def test_exit_status_then_a_normal_close(server: WebServer) -> None:
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        ws.send(b"exit 3\n")
        assert r.control() == {"type": "exit", "code": 3}
        with pytest.raises(Exception) as closed:
            r.one(10)
        assert getattr(closed.value, "rcvd", None) is not None
        assert closed.value.rcvd.code == 1000  # type: ignore[attr-defined]


def test_utf8_split_across_frames_arrives_whole(server: WebServer) -> None:
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        r.until(PROMPT)
        # The euro sign's three bytes in two writes a moment apart: two reads, two frames.
        ws.send(b"printf 'A\\342\\202'; sleep 0.5; printf '\\254Z\\n'\n")
        r.frames.clear()
        got = r.until(rb"Z\r\n")
        assert "A€Z" in got.decode("utf-8")
        assert any(f.endswith(b"\xe2\x82") for f in r.frames), "the character was not split"


def expected_flood(size: int) -> str:
    """sha256 of the first ``size`` bytes of `seq 1 10000000`."""
    h = hashlib.sha256()
    n, i, chunk = 0, 1, []
    while n < size:
        line = b"%d\n" % i
        chunk.append(line)
        n += len(line)
        i += 1
        if len(chunk) >= 100000:
            h.update(b"".join(chunk))
            chunk = []
    tail = b"".join(chunk)
    h.update(tail[: len(tail) - (n - size)])
    return h.hexdigest()


def test_flood_with_pause_and_resume_is_whole_and_bounded(server: WebServer, box: str) -> None:
    size = 64 * MiB
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        r.until(PROMPT)
        # No echo and no output processing: the bytes arrive exactly as seq wrote them.
        ws.send(
            b"stty -echo -opost; echo ST''ART; seq 1 10000000 | head -c %d; echo EN''D\n" % size
        )
        r.until(rb"START\n")
        # The frame that ended with the marker may already carry the flood's first bytes.
        h = hashlib.sha256(bytes(r.data))
        received = len(r.data)
        r.data.clear()
        rss_before = server.rss()
        worst = 0
        for pause_at in (4 * MiB, 24 * MiB, 48 * MiB):
            while received < pause_at:
                frame = r.one(60)
                assert isinstance(frame, bytes)
                h.update(frame)
                received += len(frame)
            r.data.clear()
            ws.send(json.dumps({"type": "pause"}))
            # What was on its way still comes; then nothing until "resume".
            while True:
                try:
                    frame = r.one(1.0)
                except TimeoutError:
                    break
                assert isinstance(frame, bytes)
                h.update(frame)
                received += len(frame)
            r.data.clear()
            held = received
            for _ in range(10):
                worst = max(worst, server.rss() - rss_before)
                time.sleep(0.2)
            with pytest.raises(TimeoutError):
                r.one(0.5)  # still paused: the engine holds the container back
            assert received == held < size
            ws.send(json.dumps({"type": "resume"}))
        while received < size:
            try:
                frame = r.one(60)
            except TimeoutError:
                print(f"received {received} of {size}")
                print(docker_cli("exec", box, "ps", "-o", "pid,stat,args"))
                _dump_threads(server.proc.pid)
                raise
            assert isinstance(frame, bytes)
            take = frame[: size - received]
            h.update(take)
            received += len(take)
            if len(take) < len(frame):
                r.data[:] = frame[len(take) :]
        assert h.hexdigest() == expected_flood(size)
        r.until(rb"END\n")
        assert worst < 16 * MiB, f"the server grew by {worst / MiB:.1f} MiB while paused"
        print(f"\nflood: 64 MiB whole; server RSS while paused: +{worst / MiB:.2f} MiB")


def test_ctrl_c_gets_through_while_paused(server: WebServer, box: str) -> None:
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        r.until(PROMPT)
        ws.send(b"yes\n")
        r.until(rb"y\r\ny\r\n")
        ws.send(json.dumps({"type": "pause"}))
        ws.send(b"\x03")
        deadline = time.monotonic() + 20
        while "yes" in docker_cli("exec", box, "ps", "-o", "args"):
            assert time.monotonic() < deadline, "Ctrl-C did not reach `yes` while paused"
            time.sleep(0.1)
        ws.send(json.dumps({"type": "resume"}))
        ws.send(b"echo DO''NE\n")
        r.until(rb"DONE\r\n", timeout=30)


def test_tab_close_hangs_up_the_exec(server: WebServer, box: str) -> None:
    before = shells(box)
    ws = server.ws()
    r = Reader(ws)
    start(ws)
    r.until(PROMPT)
    assert shells(box) == before + 1
    ws.close()
    deadline = time.monotonic() + 20
    while shells(box) != before:
        assert time.monotonic() < deadline, "the exec's shell outlived its tab"
        time.sleep(0.1)


def test_bad_messages_get_an_error_not_a_crash(server: WebServer) -> None:
    with server.ws() as ws:
        r = Reader(ws)
        ws.send(b"no start first")
        assert r.control()["type"] == "error"
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        ws.send('{"type":"resize","rows":0,"cols":99999}')
        assert "rows" in r.control()["message"]
        ws.send(b"echo st''ill; exit 0\n")
        r.until(rb"still")
        assert r.control() == {"type": "exit", "code": 0}


def test_deeply_nested_json_is_a_bad_message_not_the_end(server: WebServer) -> None:
    deep = "[" * 60000  # under the 64 KiB frame bound, past the JSON parser's stack
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        r.until(PROMPT)
        ws.send(deep)
        assert r.control()["type"] == "error"
        ws.send(b"echo st''ill; exit 0\n")
        r.until(rb"still")
        assert r.control() == {"type": "exit", "code": 0}
    with server.ws() as ws:  # as the first message: refused like any other bad start
        r = Reader(ws)
        ws.send(deep)
        assert r.control()["type"] == "error"
        with pytest.raises(Exception) as closed:
            r.one(10)
        assert closed.value.rcvd.code == 1008  # type: ignore[attr-defined]


def test_run_mode_removes_each_tabs_container_and_ctrl_c_leaves_none(engine: Any) -> None:
    def mine() -> list:
        return engine.containers(all=True, filters={"label": "io.threadpty.web"})

    before = {c["Id"] for c in mine()}
    server = WebServer("--run", IMAGE, "--network", "none")
    try:
        with server.ws() as ws:
            r = Reader(ws)
            start(ws)
            r.until(PROMPT)
            made = {c["Id"] for c in mine()} - before
            assert len(made) == 1
            ws.send(b"exit 5\n")
            assert r.control() == {"type": "exit", "code": 5}
        deadline = time.monotonic() + 20
        while {c["Id"] for c in mine()} & made:
            assert time.monotonic() < deadline, "the --run container outlived its session"
            time.sleep(0.1)
        # Two tabs open when the server gets Ctrl-C.
        tabs = [server.ws(), server.ws()]
        for ws in tabs:
            start(ws)
            Reader(ws).until(PROMPT)
        assert len({c["Id"] for c in mine()} - before) == 2
    finally:
        status, output = server.stop()
    assert status == 0
    assert not {c["Id"] for c in mine()} - before, "Ctrl-C left a --run container behind"
    for ws in tabs:
        ws.close()
    assert re.search(rb"stopping", output)


def test_the_token_as_a_subprotocol_as_readme_shows_it(box: str) -> None:
    """What a client that cannot set headers (a browser) does: README's own example value."""
    from websockets.sync.client import connect

    with web_server("--exec", box, token="s3cret") as s:
        offered: Any = ["threadpty", "threadpty.token.czNjcmV0"]
        with connect(f"ws://{s.netloc}/ws", subprotocols=offered, open_timeout=30) as ws:
            assert ws.subprotocol == "threadpty"
            r = Reader(ws)
            start(ws, 20, 70)
            ws.send(b"stty size; exit 4\n")
            assert b"20 70" in r.until(rb"\d+ \d+\r\n")
            assert r.control() == {"type": "exit", "code": 4}
