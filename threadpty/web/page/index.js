// The index of `threadpty web`: the running containers (one link each to its terminal) and the
// open sessions (each with an "end" button), from /api/containers and /api/sessions, which need
// the token. Asked again every few seconds while the page is visible, and not at all while it is
// hidden, so containers and sessions come and go by themselves without costing a hidden tab's
// server anything. Built with DOM calls: no name is ever parsed as HTML.
(function () {
  "use strict";
  var PERIOD = 3000;
  var auth = window.threadptyAuth;
  var list = document.getElementById("list");
  var sessions = document.getElementById("sessions");
  var problemEl = document.getElementById("problem");
  var timer = null, busy = false, again = false, stopped = false;
  // Sessions whose end was asked for and not yet answered: shown as such across refreshes.
  var ending = {};

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function problem(text) {
    problemEl.textContent = text || "";
    problemEl.hidden = !text;
  }

  function table(headings) {
    var t = el("table");
    var head = el("tr");
    headings.forEach(function (h) { head.appendChild(el("th", h)); });
    t.appendChild(head);
    return t;
  }

  function call(path, headers) {
    return fetch(path, { headers: headers || auth.headers(), cache: "no-store" })
      .then(function (resp) {
        var refused = auth.refusal(resp.status);
        if (refused) {
          // A token does not become right by asking again.
          stopped = true;
          throw new Error(refused);
        }
        if (!resp.ok) throw new Error("the server answered " + resp.status);
        return resp.json();
      });
  }

  function renderContainers(data) {
    var several = data.engines.length > 1;
    var out = [];
    data.engines.forEach(function (engine) {
      if (several) out.push(el("h2", "Engine " + engine.name));
      if (engine.error) { out.push(el("p", engine.error, "error")); return; }
      if (!engine.containers.length) { out.push(el("p", "No running containers.")); return; }
      var t = table(["Name", "Image", "Status", ""]);
      engine.containers.forEach(function (c) {
        var row = el("tr");
        row.appendChild(el("td", c.name));
        row.appendChild(el("td", c.image));
        row.appendChild(el("td", c.status));
        var path = "/t/" + encodeURIComponent(c.name);
        if (several) path += "?engine=" + encodeURIComponent(engine.name);
        var a = el("a", "terminal", "open");
        a.href = auth.link(path);
        var cell = el("td");
        cell.appendChild(a);
        row.appendChild(cell);
        t.appendChild(row);
      });
      out.push(t);
    });
    list.replaceChildren.apply(list, out);
  }

  function duration(seconds) {
    var s = Math.floor(seconds);
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + (s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function renderSessions(data) {
    if (!data.sessions.length) {
      sessions.replaceChildren(el("p", "No open sessions."));
      return;
    }
    var t = table(["Session", "Container", "Started", "Idle", "Viewers", ""]);
    data.sessions.forEach(function (s) {
      var row = el("tr");
      row.dataset.session = s.id;
      row.appendChild(el("td", "#" + s.id));
      row.appendChild(el("td", s.engine ? s.container + " (" + s.engine + ")" : s.container));
      row.appendChild(el("td", new Date(s.started * 1000).toLocaleString()));
      var idle = el("td", duration(s.idle), "idle");
      idle.dataset.seconds = s.idle;
      row.appendChild(idle);
      row.appendChild(el("td", String(s.viewers), "viewers"));
      var button = el("button", ending[s.id] ? "ending" : "end", "end");
      button.type = "button";
      button.disabled = !!ending[s.id];
      button.title = "end this session: its tab is told, its processes are hung up";
      button.addEventListener("click", function () { end(s.id, button); });
      var cell = el("td");
      cell.appendChild(button);
      row.appendChild(cell);
      t.appendChild(row);
    });
    sessions.replaceChildren(t);
  }

  function end(id, button) {
    ending[id] = true;
    button.disabled = true;
    button.textContent = "ending";
    // The extra header makes a cross-site request need a preflight, which the server never
    // grants: only this page can end a session (README.rst, "Security").
    var headers = auth.headers();
    headers["X-Threadpty-End"] = "1";
    call("/api/sessions/" + encodeURIComponent(id) + "/end", headers)
      .catch(function (err) {
        if (!/ 404$/.test(err.message)) problem("could not end session #" + id + ": " + err.message);
      })
      .then(function () {
        delete ending[id];
        refreshNow();
      });
  }

  function refresh() {
    timer = null;
    if (stopped || document.visibilityState !== "visible") return;
    if (busy) { again = true; return; }
    busy = true;
    Promise.all([call("/api/containers"), call("/api/sessions")])
      .then(function (answers) {
        renderContainers(answers[0]);
        renderSessions(answers[1]);
        problem(null);
      })
      .catch(function (err) { problem(err.message); })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        } else {
          schedule();
        }
      });
  }

  function schedule() {
    if (timer === null && !stopped && document.visibilityState === "visible") {
      timer = setTimeout(refresh, PERIOD);
    }
  }

  function refreshNow() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    refresh();
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      refreshNow();
    } else if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  });
  refresh();
})();
