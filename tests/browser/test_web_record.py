"""``threadpty web --record`` in Chromium: a tab's recording holds what it showed, asciinema's own
parser reads it, the /recordings page plays it (MARK on the player's screen past its time, not
before), keystrokes stay out without --record-input, and a flood stops at the bound while the tab
goes on."""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, List

import pytest
from test_web_browser import browser, type_line, wait_screen  # noqa: F401 - a fixture

from webrig import Reader, WebServer, web_server
from webrig import start as start_tab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def casts(folder: Any) -> List[str]:
    return sorted(str(p) for p in folder.iterdir() if p.name.endswith(".cast"))


def events(path: str) -> List[Any]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def player_screen(page: Any) -> str:
    """What the player shows, one line per row."""
    return str(
        page.evaluate(
            "() => Array.from(document.querySelectorAll('#player .ap-line'))"
            ".map(l => l.textContent.trimEnd()).join('\\n')"
        )
    )


def seek_and_read(page: Any, seconds: float) -> str:
    page.evaluate(f"() => window.recordings.player.seek({seconds})")
    page.wait_for_function(
        f"() => Math.abs((window.recordings.player.getCurrentTime() || 0) - {seconds}) < 0.001"
    )
    # The seek's frame is drawn on the next animation frame: wait for two.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return player_screen(page)


def test_a_tab_is_recorded_and_played_back(browser: Any, box: str, tmp_path: Any) -> None:  # noqa: F811
    folder = tmp_path / "casts"
    folder.mkdir()
    with web_server("--exec", box, "--record", str(folder)) as server:
        page = browser.new_page(viewport={"width": 1000, "height": 600})
        page.goto(server.url("/"))
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, lambda t: "# " in t, "no prompt")
        # In two parts, so that MARK appears on the screen at one event's time, after others.
        page.keyboard.type("echo MA")
        wait_screen(page, lambda t: "echo MA" in t, "no echo of the first half")
        type_line(page, "RK")
        wait_screen(page, lambda t: "\nMARK" in "\n" + t, "no MARK from the container")
        rows, cols = page.evaluate("() => [window.term.rows, window.term.cols]")

        (path,) = casts(folder)
        assert os.stat(path).st_mode & 0o777 == 0o600
        header, *evs = events(path)
        assert (header["width"], header["height"]) == (cols, rows)
        assert "MARK\r\n" in "".join(e[2] for e in evs if e[1] == "o")
        assert not [e for e in evs if e[1] == "i"], "keystrokes recorded without --record-input"
        times = [e[0] for e in evs]
        assert times == sorted(times)
        asciicast: Any = importlib.import_module("asciinema.asciicast")  # a test extra
        with asciicast.open_from_url(path) as cast:
            assert cast.v2_header["width"] == cols
            assert [list(e) for e in cast.events()][: len(evs)] == evs

        # The first event after which the screen holds MARK: the K's echo.
        shown = ""
        mark_at = before = 0.0
        for t, code, text in evs:
            if code == "o":
                if "MARK" in (shown + text).replace("\r\n", "\n"):
                    mark_at = t
                    break
                shown += text
                before = t
        assert before < mark_at

        player = browser.new_page(viewport={"width": 1200, "height": 800})
        player.goto(server.url("/recordings"))
        player.click(f"tr:has-text('{os.path.basename(path)}') button.open")
        player.wait_for_function("() => window.recordings.duration > 0")
        early = seek_and_read(player, (before + mark_at) / 2)
        assert "echo MA" in early and "MARK" not in early, early
        late = seek_and_read(player, mark_at + 0.0005)
        assert "MARK" in late, late
        # Speed: the player is made anew at the same place, and plays on from there.
        player.select_option("#speed", "8")
        player.wait_for_function("() => window.recordings.player !== null")
        assert "MARK" in seek_and_read(player, mark_at + 0.0005)
        player.click("#play")
        player.wait_for_function("() => window.recordings.playing === false", timeout=20000)
        player.click("#pause")
        player.close()
        page.close()


def test_input_recorded_only_with_the_flag(box: str, tmp_path: Any) -> None:
    for flag in ([], ["--record-input"]):
        folder = tmp_path / f"casts{len(flag)}"
        folder.mkdir()
        with web_server("--exec", box, "--record", str(folder), *flag) as server:
            with server.ws() as ws:
                start_tab(ws)
                reader = Reader(ws)
                reader.until(rb"# ")
                ws.send(b"echo typed\r")
                reader.until(rb"typed\r\n")
        (path,) = casts(folder)
        typed = "".join(e[2] for e in events(path)[1:] if e[1] == "i")
        assert typed == ("echo typed\r" if flag else "")


def test_a_flood_stops_at_the_bound_and_the_tab_goes_on(
    browser: Any,  # noqa: F811
    box: str,
    tmp_path: Any,
) -> None:
    folder = tmp_path / "casts"
    folder.mkdir()
    bound = 100_000
    server = WebServer("--exec", box, "--record", str(folder), "--record-max", str(bound))
    try:
        page = browser.new_page()
        page.goto(server.url("/"))
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, lambda t: "# " in t, "no prompt")
        type_line(page, "yes flood | head -n 200000; echo FLOOD-D''ONE")
        wait_screen(page, lambda t: "FLOOD-DONE" in t, "the flood did not end", timeout=60)
        type_line(page, "echo AFTER-THE-B''OUND")
        wait_screen(page, lambda t: "\nAFTER-THE-BOUND" in t, "the tab stopped at the bound")
        (path,) = casts(folder)
        assert os.path.getsize(path) <= bound
        last = events(path)[-1]
        assert last[1] == "m" and "limit" in last[2]
        page.close()
    finally:
        _, logged = server.stop()
    assert b"flood" not in logged and b"AFTER" not in logged
