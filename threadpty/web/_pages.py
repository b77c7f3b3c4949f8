"""The HTTP side: the index and terminal pages, the static files, JSON and plain answers."""

from __future__ import annotations

import html
import http
import json
import os
from typing import Dict, List, Optional, Tuple

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
}
VENDOR = ("xterm.js", "xterm.css", "addon-fit.js")

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


def index_page() -> Response:
    """The index's frame; its script fills it in from /api/containers, with the token."""
    with open(os.path.join(PAGE, "index.html"), "rb") as f:
        return response(200, f.read(), "text/html; charset=utf-8")


def json_response(value: object) -> Response:
    return response(200, json.dumps(value).encode(), "application/json")
