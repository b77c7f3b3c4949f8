"""The HTTP side: the index of containers, the terminal page, the static files, plain answers."""

from __future__ import annotations

import html
import http
import os
from typing import Dict, List, Optional, Tuple
from urllib.parse import quote

from websockets.datastructures import Headers
from websockets.http11 import Response

from ._engines import Container

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "page")
STATIC = os.path.join(HERE, "static")

# Everything served under /static/: a fixed list, so no path from a URL ever reaches the disk.
FILES: Dict[str, Tuple[str, str]] = {
    "xterm.js": (STATIC, "text/javascript; charset=utf-8"),
    "xterm.css": (STATIC, "text/css; charset=utf-8"),
    "addon-fit.js": (STATIC, "text/javascript; charset=utf-8"),
    "terminal.js": (PAGE, "text/javascript; charset=utf-8"),
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


def index_page(
    engines: List[Tuple[str, List[Container], Optional[str]]], several: bool
) -> Response:
    """``engines``: (name, its running containers, an error instead of them)."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>threadpty web</title><link rel='stylesheet' href='/static/index.css'></head>",
        "<body><h1>Containers</h1>",
    ]
    for name, containers, error in engines:
        e = html.escape
        if several:
            out.append(f"<h2>Engine {e(name)}</h2>")
        if error is not None:
            out.append(f"<p class='error'>{e(error)}</p>")
            continue
        if not containers:
            out.append("<p>No running containers.</p>")
            continue
        out.append("<table><tr><th>Name</th><th>Image</th><th>Status</th><th></th></tr>")
        for c in containers:
            link = "/t/" + quote(c.name, safe="")
            if several:
                link += "?engine=" + quote(name, safe="")
            out.append(
                f"<tr><td>{e(c.name)}</td><td>{e(c.image)}</td><td>{e(c.status)}</td>"
                f"<td><a class='open' href='{e(link)}'>terminal</a></td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return response(200, "".join(out).encode(), "text/html; charset=utf-8")
