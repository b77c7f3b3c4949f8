"""`threadpty web --certfile/--keyfile`: HTTPS and WSS with no proxy, in Debian's Chromium and
from programs, against the real command and a real engine.

The certificate is made by the test, self-signed; Chromium trusts exactly it, by the hash of its
public key (``--ignore-certificate-errors-spki-list``), and no other.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import ssl
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest

from webrig import TOKEN, WebServer, self_signed, web_server

pytest.importorskip("cryptography")

from websockets.exceptions import InvalidStatus  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("THREADPTY_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The server's handshake timeout (Config's default; the command has no option for it).
HANDSHAKE_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def cert(tmp_path_factory: Any) -> Tuple[str, str, bytes]:
    return self_signed(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def server(box: str, cert: Tuple[str, str, bytes]) -> Iterator[WebServer]:
    with web_server("--exec", box, "--certfile", cert[0], "--keyfile", cert[1]) as s:
        yield s


@pytest.fixture(scope="module")
def browser(cert: Tuple[str, str, bytes]) -> Iterator[Any]:
    if os.environ.get("THREADPTY_SKIP_BROWSER", "") not in ("", "0"):
        pytest.skip("browser tests skipped: THREADPTY_SKIP_BROWSER is set")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/browser.sh", pytrace=False)
    from playwright.sync_api import sync_playwright

    pin = base64.b64encode(hashlib.sha256(cert[2]).digest()).decode("ascii")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[*FLAGS, f"--ignore-certificate-errors-spki-list={pin}"],
        )
        try:
            yield b
        finally:
            b.close()


def _context(version: Optional[ssl.TLSVersion] = None) -> ssl.SSLContext:
    """A client context that checks nothing of the server (for its TLS versions alone)."""
    context = ssl.create_default_context()
    context.check_hostname = False  # made for localhost; the tests dial 127.0.0.1
    context.verify_mode = ssl.CERT_NONE
    if version is not None:
        context.maximum_version = version
    return context


def _pinned(cert: Tuple[str, str, bytes]) -> ssl.SSLContext:
    """A client context that trusts the test's certificate alone (made for 127.0.0.1 too)."""
    return ssl.create_default_context(cafile=cert[0])


def screen(page: Any) -> str:
    return str(
        page.evaluate(
            "() => { const b = window.term.buffer.active; const out = [];"
            " for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));"
            " return out.join('\\n'); }"
        )
    )


def wait_screen(page: Any, needle: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while needle not in screen(page):
        assert time.monotonic() < deadline, f"{needle!r} not shown; the screen:\n{screen(page)}"
        page.wait_for_timeout(50)


def test_terminal_over_https_and_wss(browser: Any, server: WebServer) -> None:
    assert server.printed_url.startswith(f"https://127.0.0.1:{server.port}/#token=")
    page = browser.new_page()
    sockets: List[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    response = page.goto(server.printed_url)
    assert response is not None and response.ok
    details = response.security_details()
    assert details is not None and details.get("protocol") == "TLS 1.3", details
    assert details.get("subjectName") == "localhost"
    assert page.evaluate("() => location.protocol") == "https:"
    page.wait_for_function("() => window.term !== undefined")
    wait_screen(page, "# ")
    page.keyboard.type("echo tls-$((6*7))")
    page.keyboard.press("Enter")
    wait_screen(page, "\ntls-42")
    assert sockets == [f"wss://127.0.0.1:{server.port}/ws"]
    page.close()


def test_plain_http_on_the_tls_port_gets_no_http_answer(server: WebServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"HTTP/" not in data


def test_silent_client_delays_nobody_and_is_cut(
    server: WebServer, cert: Tuple[str, str, bytes]
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as silent:
        began = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=_pinned(cert))
        conn.request("GET", "/api/title", headers={"Authorization": f"Bearer {TOKEN}"})
        assert conn.getresponse().status == 200
        conn.close()
        assert time.monotonic() - began < 2, "a silent client held back another"
        assert silent.recv(1) == b"", "the silent client was not cut"
        took = time.monotonic() - began
        assert HANDSHAKE_TIMEOUT - 1 < took < HANDSHAKE_TIMEOUT + 3, took


def test_token_and_origin_still_checked(server: WebServer, cert: Tuple[str, str, bytes]) -> None:
    def status(headers: dict) -> int:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=_pinned(cert))
        try:
            conn.request("GET", "/api/title", headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    assert status({}) == 401
    assert status({"Authorization": "Bearer wrong"}) == 403
    assert status({"Authorization": f"Bearer {TOKEN}"}) == 200

    here = f"127.0.0.1:{server.port}"
    elsewhere = f"https://127.0.0.1:{server.port + 1}"
    for origin in (f"http://{here}", "https://evil.example", elsewhere):
        with pytest.raises(InvalidStatus) as info:
            server.ws(ssl=_pinned(cert), additional_headers=[("Origin", origin)])
        assert info.value.response.status_code == 403, origin
    with pytest.raises(InvalidStatus) as info:
        server.ws(token=None, ssl=_pinned(cert))
    assert info.value.response.status_code == 401
    ws = server.ws(ssl=_pinned(cert), additional_headers=[("Origin", f"https://{here}")])
    ws.close()


def test_tls_1_1_refused(server: WebServer) -> None:
    context = _context()
    with pytest.warns(DeprecationWarning):
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with _context(ssl.TLSVersion.TLSv1_2).wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.2"
