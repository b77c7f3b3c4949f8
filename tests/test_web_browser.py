"""`threadpty web` in a real browser: Debian's Chromium, headless, driven by Playwright's Python
package with ``executable_path`` (no browser is ever downloaded; scripts/browser.sh installs it).

What is checked goes through xterm.js's own buffer (``window.term``), not through pixels.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Iterator

import pytest

from conftest import IMAGE
from webrig import WebServer, web_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("THREADPTY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "build", "web")
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
