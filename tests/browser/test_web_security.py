"""`threadpty web` opens shells into containers: who may, from where, how many, and what is told.

Every terminal and the container list need the token, which is never a cookie nor in a URL that
reaches the server; upgrades from another site's page are refused; a server that would
listen beyond loopback without a token does not start; the session limit refuses cleanly; names in
URLs are checked against the engine; what is typed and printed never reaches the server's output.
"""

from __future__ import annotations

import base64
import json
import socket
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
from websockets.sync.client import connect  # noqa: E402

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


def token_protocol(token: str) -> str:
    """The subprotocol that carries a token, as README.rst describes it for clients."""
    return "threadpty.token." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


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


def test_pages_show_nothing_and_the_api_needs_the_token(index: WebServer, box: str) -> None:
    # The pages themselves hold nothing secret: the container list is an authenticated call.
    for path in ("/", "/t/x", "/static/xterm.js", "/static/auth.js"):
        status, _, body = get(index.url(path, token=False))
        assert status == 200 and box.encode() not in body
    for path in ("/api/containers", "/api/title"):
        assert get(index.url(path, token=False))[0] == 401
        assert get(index.url(path, token=False), {"Authorization": "Bearer nope"})[0] == 403
        assert get(index.url(path, token=False), {"Authorization": f"Basic {TOKEN}"})[0] == 401
    status, headers, body = get(
        index.url("/api/containers", token=False), {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    names = [c["name"] for e in json.loads(body)["engines"] for c in e["containers"]]
    assert box in names


def test_the_old_query_url_moves_the_token_to_the_fragment(index: WebServer, box: str) -> None:
    status, headers, _ = get(f"{index.base}/?token={TOKEN}")
    assert status == 302 and headers["Location"] == f"/#token={TOKEN}"
    assert headers.get_all("Set-Cookie") is None
    # Only the token moves; the other parameters stay.
    status, headers, _ = get(f"{index.base}/t/{box}?engine=default&token={TOKEN}")
    assert status == 302 and headers["Location"] == f"/t/{box}?engine=default#token={TOKEN}"
    assert headers.get_all("Set-Cookie") is None
    assert get(f"{index.base}/?token=wrong")[0] == 403
    # Never a way in for the calls that need it: a token in a URL ends up in logs.
    assert get(f"{index.base}/api/containers?token={TOKEN}")[0] == 302
    assert refused(index, f"/ws/{box}?token={TOKEN}", token=None) == 401


def test_the_old_cookie_is_no_way_in_and_is_dropped(index: WebServer, box: str) -> None:
    cookie = {"Cookie": f"threadpty_token={TOKEN}"}
    status, headers, _ = get(index.url("/api/containers", token=False), cookie)
    assert status == 401
    assert "Max-Age=0" in headers["Set-Cookie"] and headers["Set-Cookie"].startswith(
        "threadpty_token=;"
    )
    status, headers, _ = get(index.url("/", token=False), cookie)
    assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]
    assert refused(index, f"/ws/{box}", token=None, additional_headers=list(cookie.items())) == 401


def test_socket_needs_the_token(index: WebServer, box: str) -> None:
    assert refused(index, f"/ws/{box}", token=None) == 401
    assert refused(index, f"/ws/{box}", token=None, subprotocols=["threadpty"]) == 401
    wrong = ["threadpty", token_protocol("wrong")]
    assert refused(index, f"/ws/{box}", token=None, subprotocols=wrong) == 403
    bad = ["threadpty", "threadpty.token.%%%"]
    assert refused(index, f"/ws/{box}", token=None, subprotocols=bad) == 403
    # Each accepted way works: a Bearer header (programs), the token's subprotocol (the page).
    with index.ws(f"/ws/{box}") as ws:
        assert ws.subprotocol is None
        start(ws)
        ws.send(b"exit 0\n")
        assert Reader(ws).control() == {"type": "exit", "code": 0}
    page_way = ["threadpty", token_protocol(TOKEN)]
    with index.ws(f"/ws/{box}", token=None, subprotocols=page_way) as ws:
        # The server names the protocol it speaks, never the token's.
        assert ws.subprotocol == "threadpty"
        assert ws.response is not None and TOKEN not in str(ws.response.headers)
        start(ws)
        ws.send(b"exit 0\n")
        assert Reader(ws).control() == {"type": "exit", "code": 0}


def test_another_sites_page_cannot_open_a_terminal(index: WebServer, box: str) -> None:
    evil = [("Origin", "http://evil.example")]
    assert refused(index, f"/ws/{box}", additional_headers=evil) == 403
    # Even with the token (a page of another site could only have it if it leaked).
    page_way = ["threadpty", token_protocol(TOKEN)]
    assert (
        refused(index, f"/ws/{box}", token=None, subprotocols=page_way, additional_headers=evil)
        == 403
    )
    same = [("Origin", f"http://{index.netloc}")]
    with index.ws(f"/ws/{box}", additional_headers=same) as ws:
        start(ws)
        ws.send(b"exit 0\n")
        assert Reader(ws).control()["type"] == "exit"


def test_containers_in_urls_are_checked_against_the_engine(index: WebServer) -> None:
    for name in ("no-such-box", "..%2F..%2Fetc", "a%3Bls", "%20x"):
        assert refused(index, f"/ws/{name}") == 404
    assert get(index.url("/static/..%2F__init__.py", token=False))[0] == 404
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
        assert get(f"{s.base}/api/containers")[0] == 200
        # A DNS-rebinding page reaches 127.0.0.1 under a name of its own.
        assert get(f"{s.base}/api/containers", {"Host": f"evil.example:{s.port}"})[0] == 401
        with socket.create_connection(("127.0.0.1", s.port), timeout=20) as sock:
            with pytest.raises(InvalidStatus) as exc:
                connect(f"ws://evil.example:{s.port}/ws/{box}", sock=sock).close()
        assert exc.value.response.status_code == 401
        # A Host said twice is no loopback name either.
        twice = [("Host", f"127.0.0.1:{s.port}")]
        assert refused(s, f"/ws/{box}", token=None, additional_headers=twice) == 401
        # The printed URL has no token to carry.
        assert s.printed_url == f"{s.base}/"


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
