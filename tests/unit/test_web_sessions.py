"""The index's session list and the end call's route (``threadpty.web._sessions``): no engine."""

from __future__ import annotations

import json
from typing import Optional

import pytest

from threadpty.web._sessions import SessionView, end_target, listing


@pytest.mark.parametrize(
    "route, number",
    [
        ("/api/sessions/1/end", 1),
        ("/api/sessions/42/end", 42),
        ("/api/sessions/123456789012345678/end", 123456789012345678),
        # What is not written as the list writes ids names no session.
        ("/api/sessions/0/end", None),
        ("/api/sessions/01/end", None),
        ("/api/sessions/-1/end", None),
        ("/api/sessions/+1/end", None),
        ("/api/sessions/1.0/end", None),
        ("/api/sessions/ 1/end", None),
        ("/api/sessions/\u0661/end", None),  # an Arabic-Indic one: a digit to str.isdigit
        ("/api/sessions/\u00b2/end", None),
        ("/api/sessions/1234567890123456789/end", None),
        ("/api/sessions//end", None),
        ("/api/sessions/end", None),
        ("/api/sessions/1", None),
        ("/api/sessions/1/end/", None),
        ("/api/sessions/1/stop", None),
        ("/api/sessions/1/2/end", None),
        ("/api/sessions", None),
        ("/api/session/1/end", None),
    ],
)
def test_end_target(route: str, number: Optional[int]) -> None:
    assert end_target(route) == number


def test_listing_is_oldest_first_and_json() -> None:
    views = [
        SessionView(id=7, container="web", engine="b", started=1700000100.12345, idle=3.04),
        SessionView(id=2, container="db", engine=None, started=1700000000.0, idle=0.0),
    ]
    body = listing(views)
    assert json.loads(json.dumps(body)) == {
        "sessions": [
            {
                "id": 2,
                "container": "db",
                "engine": None,
                "started": 1700000000.0,
                "idle": 0.0,
                "viewers": 1,
            },
            {
                "id": 7,
                "container": "web",
                "engine": "b",
                "started": 1700000100.123,
                "idle": 3.0,
                "viewers": 1,
            },
        ]
    }


def test_idle_is_never_negative() -> None:
    # The last activity is read without a lock, and may be a moment after "now".
    view = SessionView(id=1, container="c", engine=None, started=0.0, idle=-0.002)
    assert listing([view])["sessions"][0]["idle"] == 0.0


def test_no_sessions() -> None:
    assert listing([]) == {"sessions": []}


def _server(token: str) -> object:
    pytest.importorskip("websockets")
    from threadpty.web._engines import Engines
    from threadpty.web._server import Config, WebServer

    # Nothing here reaches an engine: the routes below answer from the server's own table.
    return WebServer(Config(token=token), Engines({}))


def _get(server: object, path: str, *headers: tuple) -> int:
    from websockets.datastructures import Headers

    answer = server._http(path, path, Headers([("Host", "127.0.0.1:8022"), *headers]))  # type: ignore[attr-defined]
    return int(answer.status_code)


def test_ending_without_a_token_needs_the_header_no_other_site_can_send() -> None:
    server = _server("")
    # What an <img> or a link of another page would send to a loopback port: refused.
    assert _get(server, "/api/sessions/1/end") == 403
    assert _get(server, "/api/sessions/1/end", ("X-Threadpty-End", "1")) == 404
    assert _get(server, "/api/sessions") == 200


def test_ending_needs_the_token() -> None:
    server = _server("s3cret-token")
    assert _get(server, "/api/sessions/1/end") == 401
    assert _get(server, "/api/sessions/1/end", ("Authorization", "Bearer wrong")) == 403
    assert _get(server, "/api/sessions/1/end", ("Authorization", "Bearer s3cret-token")) == 404
    assert _get(server, "/api/sessions", ("Authorization", "Bearer s3cret-token")) == 200
    assert _get(server, "/api/sessions") == 401
