"""The index of `threadpty web` in Chromium: containers come and go by themselves, the open
sessions are listed with their idle time and can be ended (the tab is told, its processes hung
up), and only a holder of the token (or, with none, this server's own page) can end one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from test_web_browser import browser, other_server, type_line, wait_screen  # noqa: F401
from test_web_hangup import marked

from conftest import RUN_ID
from webrig import Reader, WebServer, start, web_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# The index asks again every 3 s: what it shows may lag by that, plus a loaded machine's delays.
SHOWN_WITHIN = 15_000


def api(server: WebServer, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    """GET ``path``; (status, the JSON body or the text)."""
    request = urllib.request.Request(server.base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_requests(page: Any) -> Callable[[], int]:
    """Count the calls the page makes to /api/ from now on."""
    seen: List[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    return lambda: len(seen)


def set_visibility(page: Any, state: str) -> None:
    """What the browser does when the tab is put in the background or brought back; headless
    Chromium has no window to hide, so the state is set as the page reads it."""
    page.evaluate(
        "(state) => { Object.defineProperty(document, 'visibilityState',"
        " { configurable: true, get: () => state });"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        state,
    )


def test_containers_appear_and_go_while_the_page_is_open(
    browser: Any,  # noqa: F811
    make_container: Callable[..., str],
    engine: Any,
) -> None:
    name = f"threadpty-idx-{RUN_ID}-late"
    with web_server() as server:
        page = browser.new_page()
        page.goto(server.url("/"))
        page.wait_for_selector("#list table, #list p:has-text('No running')")
        assert page.locator(f"#list tr:has-text('{name}')").count() == 0
        cid = make_container("sleep 3600", start=True, name=name)
        page.wait_for_selector(f"#list tr:has-text('{name}') a.open", timeout=SHOWN_WITHIN)
        engine.remove_container(cid, force=True)
        page.wait_for_selector(
            f"#list tr:has-text('{name}')", state="detached", timeout=SHOWN_WITHIN
        )

        # Hidden, it asks nothing (a tab left in the background costs the server nothing);
        # shown again, it asks at once.
        count = api_requests(page)
        set_visibility(page, "hidden")
        start_count = count()
        page.wait_for_timeout(4000)  # longer than the 3 s between calls: nothing may come
        assert count() == start_count, "the hidden index went on asking"
        set_visibility(page, "visible")
        deadline = time.monotonic() + 2
        while count() == start_count:
            assert time.monotonic() < deadline, "the index did not ask again when shown"
            page.wait_for_timeout(50)
        page.close()


def test_an_open_tab_is_listed_and_ended_from_the_index(browser: Any, box: str) -> None:  # noqa: F811
    with web_server() as server:
        # A tab opened elsewhere, with a job in the background: both must go when it is ended.
        tab = browser.new_page()
        tab.goto(server.url(f"/t/{box}"))
        tab.wait_for_function("() => window.term !== undefined")
        wait_screen(tab, lambda t: "# " in t, "no prompt")
        type_line(tab, "sleep 1000 & echo start''ed")
        wait_screen(tab, lambda t: "\nstarted" in t, "the job did not start")
        assert len(marked(box)) >= 2

        index = browser.new_page()
        index.goto(server.url("/"))
        row = index.locator(f"#sessions tr:has-text('{box}')")
        row.wait_for(timeout=SHOWN_WITHIN)
        assert row.count() == 1
        assert row.locator("td.viewers").inner_text() == "1"
        first = float(row.locator("td.idle").get_attribute("data-seconds") or "nan")
        # Nothing goes in or out of the tab meanwhile: its idle time grows on the next calls.
        index.wait_for_function(
            f"() => {{ const c = document.querySelector('#sessions td.idle');"
            f" return c && Number(c.dataset.seconds) >= {first} + 5; }}",
            timeout=SHOWN_WITHIN,
        )
        # Input starts it again: the next call (at most 3 s later) shows less than before.
        type_line(tab, "echo again")
        wait_screen(tab, lambda t: "\nagain" in t, "no echo")
        index.wait_for_function(
            "() => { const c = document.querySelector('#sessions td.idle');"
            " return c && Number(c.dataset.seconds) < 4.5; }",
            timeout=SHOWN_WITHIN,
        )

        with index.expect_response(lambda r: r.url.endswith("/end")) as ended:
            row.locator("button.end").click()
        answer = ended.value
        assert answer.status == 200 and answer.json()["hung_up"] is True
        # The call answers once the session's processes are hung up: none is left now.
        assert marked(box) == []
        tab.wait_for_function("() => document.title.includes('ended')", timeout=10_000)
        wait_screen(tab, lambda t: "ended from the index" in t, "the tab was not told")
        row.wait_for(state="detached", timeout=SHOWN_WITHIN)
        index.wait_for_selector("#sessions p:has-text('No open sessions')")
        tab.close()
        index.close()


def test_the_session_calls_need_the_token(box: str) -> None:
    with web_server() as server:
        ws = server.ws(f"/ws/{box}")
        try:
            r = Reader(ws)
            start(ws)
            r.until(rb"# ")
            token = bearer(server.token)
            status, body = api(server, "/api/sessions", token)
            assert status == 200
            [session] = body["sessions"]
            assert session["container"] == box and session["viewers"] == 1
            end = f"/api/sessions/{session['id']}/end"
            for path in ("/api/sessions", end):
                assert api(server, path)[0] == 401
                assert api(server, path, bearer("not-the-token"))[0] == 403
            # The session is still there, untouched by the refused calls.
            ws.send(b"echo st''ill\n")
            r.until(rb"still")
            assert api(server, f"/api/sessions/{session['id'] + 1000}/end", token)[0] == 404
            assert api(server, "/api/sessions/x/end", token)[0] == 404
            status, body = api(server, end, token)
            assert status == 200 and body["hung_up"] is True
            assert api(server, end, token)[0] == 404
            assert marked(box) == []
        finally:
            ws.close()


# A page of another origin (another port of this host) tries to end a session of a server that
# has no token (allowed on loopback only), every way a page can send a GET without the server's
# consent.
CROSS_SITE = """<!doctype html><html><body><script>
(async function () {
  var url = "http://%(target)s/api/sessions/%(id)s/end";
  var results = {};
  results.img = await new Promise(function (resolve) {
    var img = new Image();
    img.onload = img.onerror = function () { resolve("done"); };
    img.src = url;
  });
  results.frame = await new Promise(function (resolve) {
    var frame = document.createElement("iframe");
    frame.onload = function () { resolve("done"); };
    frame.src = url + "?frame";
    document.body.appendChild(frame);
  });
  results.plain = await fetch(url, { mode: "no-cors" }).then(
    function () { return "sent"; }, function (e) { return "failed"; });
  results.header = await fetch(url, { headers: { "X-Threadpty-End": "1" } }).then(
    function () { return "sent"; }, function (e) { return "failed"; });
  await fetch("/report", { method: "POST", body: JSON.stringify(results) });
})();
</script></body></html>"""


def test_another_site_cannot_end_a_session_of_a_server_without_token(
    browser: Any,  # noqa: F811
    box: str,
) -> None:
    with web_server(token="") as server:
        ws = server.ws(f"/ws/{box}", token=None)
        try:
            r = Reader(ws)
            start(ws)
            r.until(rb"# ")
            status, body = api(server, "/api/sessions")
            [session] = body["sessions"]
            page_text = CROSS_SITE % {"target": server.netloc, "id": session["id"]}
            with other_server(page_text.encode()) as other:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
                assert other.reported.wait(30), "the other site's page did not report"
                page.close()
            report = json.loads(next(q[3] for q in other.requests if q[1] == "/report"))
            # The request with the header needs a preflight the server never grants.
            assert report["header"] == "failed"
            status, body = api(server, "/api/sessions")
            assert [s["id"] for s in body["sessions"]] == [session["id"]], report
            ws.send(b"echo st''ill\n")
            r.until(rb"still")
            # This server's own page (same origin) sends the header: then it ends.
            status, body = api(
                server, f"/api/sessions/{session['id']}/end", {"X-Threadpty-End": "1"}
            )
            assert status == 200 and body["hung_up"] is True
        finally:
            ws.close()
