"""The HTTP side: the index and terminal pages, the static files, JSON and plain answers."""

from __future__ import annotations

import html
import http
import json
import os
from dataclasses import dataclass
from typing import IO, Dict, List, Optional, Tuple

from websockets.datastructures import Headers
from websockets.http11 import Response

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "page")
STATIC = os.path.join(HERE, "static")

# Everything served under /static/: a fixed list, so no path from a URL ever reaches the disk.
FILES: Dict[str, Tuple[str, str]] = {
    "xterm.js": (STATIC, "text/javascript; charset=utf-8"),
    "xterm.css": (STATIC, "text/css; charset=utf-8"),
    "addon-fit.js": (STATIC, "text/javascript; charset=utf-8"),
    "auth.js": (PAGE, "text/javascript; charset=utf-8"),
    "terminal.js": (PAGE, "text/javascript; charset=utf-8"),
    "index.js": (PAGE, "text/javascript; charset=utf-8"),
    "terminal.css": (PAGE, "text/css; charset=utf-8"),
    "index.css": (PAGE, "text/css; charset=utf-8"),
    "asciinema-player.min.js": (STATIC, "text/javascript; charset=utf-8"),
    "asciinema-player.css": (STATIC, "text/css; charset=utf-8"),
    "recordings.js": (PAGE, "text/javascript; charset=utf-8"),
    "recordings.css": (PAGE, "text/css; charset=utf-8"),
}
VENDOR = (
    "xterm.js",
    "xterm.css",
    "addon-fit.js",
    "asciinema-player.min.js",
    "asciinema-player.css",
)

# xterm.js injects <style> elements, hence 'unsafe-inline' for styles; scripts only from here.
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]


# The player's terminal is WebAssembly compiled from a script of ours: that page alone may do so.
PLAYER_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


@dataclass
class FileResponse(Response):
    """A response whose body is an open file, ``size`` bytes of it, sent straight from the file
    (``socket.sendfile``) after the headers: a big recording is never held in memory."""

    file: Optional[IO[bytes]] = None
    size: int = 0


def missing_assets() -> List[str]:
    return [name for name in VENDOR if not os.path.isfile(os.path.join(STATIC, name))]


def response(
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra: Optional[List[Tuple[str, str]]] = None,
) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
            *SECURITY_HEADERS,
            *(extra or []),
        ]
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def text(status: int, message: str) -> Response:
    return response(status, (message + "\n").encode())


def redirect(location: str, extra: List[Tuple[str, str]]) -> Response:
    return response(302, b"", extra=[("Location", location), *extra])


def file_response(file: IO[bytes], size: int, content_type: str) -> FileResponse:
    """``size`` bytes of ``file`` (taken over: closed once sent), as they are on the disk."""
    plain = response(200, b"", content_type)
    # Headers holds each name as often as it is set: the old value goes first.
    del plain.headers["Content-Length"]
    plain.headers["Content-Length"] = str(size)
    return FileResponse(200, plain.reason_phrase, plain.headers, b"", file=file, size=size)


def static(name: str) -> Response:
    if name not in FILES:
        return text(404, "not found")
    folder, kind = FILES[name]
    try:
        with open(os.path.join(folder, name), "rb") as f:
            body = f.read()
    except OSError:
        return text(404, f"{name} is missing: build the web assets (make web-assets)")
    return response(200, body, kind)


def terminal_page(title: str, ws_path: str) -> Response:
    with open(os.path.join(PAGE, "terminal.html"), encoding="utf-8") as f:
        template = f.read()
    page = template.replace("{title}", html.escape(title)).replace("{ws}", html.escape(ws_path))
    return response(200, page.encode(), "text/html; charset=utf-8")


def index_page(recordings: bool = False) -> Response:
    """The index's frame; its script fills it in from /api/containers, with the token. With
    ``recordings`` it links to the recordings' page."""
    with open(os.path.join(PAGE, "index.html"), encoding="utf-8") as f:
        page = f.read()
    link = '<p id="recordings"><a href="/recordings">Recordings</a></p>' if recordings else ""
    page = page.replace("<!--recordings-->", link)
    return response(200, page.encode(), "text/html; charset=utf-8")


def recordings_page() -> Response:
    """The recordings' list and player; its script gets both from /api/recordings, with the
    token."""
    with open(os.path.join(PAGE, "recordings.html"), "rb") as f:
        body = f.read()
    resp = response(200, body, "text/html; charset=utf-8")
    del resp.headers["Content-Security-Policy"]
    resp.headers["Content-Security-Policy"] = PLAYER_CSP
    return resp


def json_response(value: object) -> Response:
    return response(200, json.dumps(value).encode(), "application/json")
