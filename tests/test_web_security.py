"""`threadpty web` opens shells into containers: who may, from where, how many, and what is told.

Every request needs the token; upgrades from another site's page are refused; a server that would
listen beyond loopback without a token does not start; the session limit refuses cleanly; names in
URLs are checked against the engine; what is typed and printed never reaches the server's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, Iterator, Tuple

import pytest

from conftest import IMAGE, LABEL, RUN_ID
from webrig import TOKEN, Reader, WebServer, start, web_server

websockets = pytest.importorskip("websockets")
from websockets.exceptions import InvalidStatus  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def box(engine: Any) -> Iterator[str]:
    cid = engine.create_container(
        IMAGE,
        "sleep 3600",
        name=f"tpweb-sec-{RUN_ID}",
        labels={LABEL: RUN_ID},
        host_config=engine.create_host_config(network_mode="none"),
    )["Id"]
    engine.start(cid)
    yield f"tpweb-sec-{RUN_ID}"
    engine.remove_container(cid, force=True)


@pytest.fixture(scope="module")
def index(box: str) -> Iterator[WebServer]:
    with web_server("--max-sessions", "2") as s:
        yield s


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(url: str, headers: Any = None) -> Tuple[int, Any, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def refused(server: WebServer, path: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as exc:
        server.ws(path, **kwargs).close()
    return int(exc.value.response.status_code)


def test_pages_need_the_token(index: WebServer) -> None:
    for path in ("/", "/static/xterm.js", "/t/x"):
        assert get(index.url(path, token=False))[0] == 401
        assert get(index.url(path, token=False) + "?token=wrong")[0] == 403
        assert get(index.url(path, token=False), {"Authorization": "Bearer nope"})[0] == 403


def test_token_in_the_url_becomes_a_cookie(index: WebServer, box: str) -> None:
    status, headers, _ = get(index.url("/"))
    assert status == 302 and headers["Location"] == "/"
    # Only the token leaves the URL.
    status, headers, _ = get(index.url(f"/t/{box}?engine=default"))
    assert status == 302 and headers["Location"] == f"/t/{box}?engine=default"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, body = get(index.url("/", token=False), {"Cookie": cookie.split(";")[0]})
    assert status == 200 and box.encode() in body
    status, _, body = get(index.url("/", token=False), {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


def test_socket_needs_the_token(index: WebServer, box: str) -> None:
    assert refused(index, f"/ws/{box}", token=None) == 401
    assert refused(index, f"/ws/{box}?token=wrong", token=None) == 403
    # Each accepted way works: query, cookie, Bearer.
    for path, headers in (
        (f"/ws/{box}?token={TOKEN}", []),
        (f"/ws/{box}", [("Cookie", f"threadpty_token={TOKEN}")]),
    ):
        with index.ws(path, token=None, additional_headers=headers) as ws:
            start(ws)
            ws.send(b"exit 0\n")
            assert Reader(ws).control() == {"type": "exit", "code": 0}


def test_another_sites_page_cannot_open_a_terminal(index: WebServer, box: str) -> None:
    evil = [("Origin", "http://evil.example")]
    assert refused(index, f"/ws/{box}", additional_headers=evil) == 403
    # Even with the cookie a browser would attach for this host.
    evil_cookie = evil + [("Cookie", f"threadpty_token={TOKEN}")]
    assert refused(index, f"/ws/{box}", token=None, additional_headers=evil_cookie) == 403
    same = [("Origin", f"http://{index.netloc}")]
    with index.ws(f"/ws/{box}", additional_headers=same) as ws:
        start(ws)
        ws.send(b"exit 0\n")
        assert Reader(ws).control()["type"] == "exit"


def test_containers_in_urls_are_checked_against_the_engine(index: WebServer) -> None:
    for name in ("no-such-box", "..%2F..%2Fetc", "a%3Bls", "%20x"):
        assert refused(index, f"/ws/{name}") == 404
    assert get(index.url("/static/..%2F__init__.py"))[0] in (302, 404)
    assert (
        get(index.url("/static/nothing.js", token=False), {"Authorization": f"Bearer {TOKEN}"})[0]
        == 404
    )


def test_max_sessions_refuses_the_third_cleanly(index: WebServer, box: str) -> None:
    first, second = index.ws(f"/ws/{box}"), index.ws(f"/ws/{box}")
    try:
        for ws in (first, second):
            start(ws)
            Reader(ws).until(rb"# ")
        with index.ws(f"/ws/{box}") as third:
            r = Reader(third)
            message = r.control()
            assert message["type"] == "error" and "maximum of 2" in message["message"]
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                r.one(10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        # The two running ones are untouched.
        first.send(b"echo al''ive\n")
        Reader(first).until(rb"alive")
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_no_token_beyond_loopback_refuses_to_start(host: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "threadpty", "web", "--host", host, "--port", "0", "--token", ""],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert b"without a token" in proc.stderr
    assert proc.stdout == b""


def test_no_token_on_loopback_still_checks_the_host(box: str) -> None:
    with web_server(token="") as s:
        assert get(f"{s.base}/")[0] == 200
        # A DNS-rebinding page reaches 127.0.0.1 under a name of its own.
        assert get(f"{s.base}/", {"Host": f"evil.example:{s.port}"})[0] == 401


def test_nothing_typed_or_printed_is_logged(box: str) -> None:
    server = WebServer("--debug")
    try:
        with server.ws(f"/ws/{box}") as ws:
            r = Reader(ws)
            start(ws)
            ws.send(b"echo pass''word-in-1 pa''ssword-out-2; exit 0\n")
            r.until(rb"password-in-1 password-out-2")
            assert r.control()["type"] == "exit"
    finally:
        _, output = server.stop()
    assert b"password" not in output
    assert b"word-in-1" not in output


def test_messages_are_bounded(index: WebServer, box: str) -> None:
    with index.ws(f"/ws/{box}") as ws:
        start(ws)
        Reader(ws).until(rb"# ")
        ws.send(b"x" * (64 * 1024 + 1))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    _ = json
