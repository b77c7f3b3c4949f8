// The terminal page of `threadpty web`: xterm.js on one WebSocket (protocol: README.rst).
// Binary frames carry bytes both ways; text frames carry JSON control messages. The token comes
// from auth.js and goes with the upgrade as a subprotocol.
(function () {
  "use strict";
  // Flow control: bytes handed to xterm.js but not yet rendered. Above HIGH the server is asked to
  // stop reading the container's output; below LOW to go on (xterm.js's flow-control guide).
  var HIGH = 512 * 1024, LOW = 128 * 1024;
  // The server takes frames of at most 64 KiB: long pastes go in pieces.
  var PIECE = 32 * 1024;
  // The close codes of a session ended from the index, and of one another tab took over
  // (private-use codes: README.rst).
  var ENDED_CODE = 4000, TAKEN_CODE = 4001, DROPPED_CODE = 4002;
  // Reconnecting after a lost connection: the first try after FIRST_RETRY ms, each next one twice
  // as late, up to MAX_RETRY, for as long as the server keeps the session (its "linger").
  var FIRST_RETRY = 250, MAX_RETRY = 8000;

  var body = document.body;
  var auth = window.threadptyAuth;
  var label = body.dataset.label || "terminal";
  var stateEl = document.getElementById("state");
  var button = document.getElementById("reconnect");
  var shareButton = document.getElementById("share");
  var shareLink = document.getElementById("share-link");
  // A share link (?view=ID) opens another tab's session for viewing: the size is that tab's, and
  // what is typed here goes nowhere unless the server lets viewers write.
  var viewId = new URLSearchParams(location.search).get("view");
  var viewing = !!viewId, writable = !viewing;
  var term = new Terminal({ scrollback: 5000, cursorBlink: true });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  term.focus();
  window.term = term; // tests read the buffer through it

  var encoder = new TextEncoder();
  var ws = null, pending = 0, paused = false, ended = false;

  // This tab's session, kept per tab (sessionStorage) and per terminal URL, so that a reload or
  // a reconnect attaches to it again; the server says how long it keeps a session without its page.
  var SESSION_KEY = "threadpty-session:" + body.dataset.ws;
  var sessionId = null, linger = 0, lostAt = null, tries = 0;
  if (viewing) sessionId = viewId;
  else try { sessionId = sessionStorage.getItem(SESSION_KEY); } catch (e) { /* storage off */ }

  function keep(id) {
    if (viewing) return; // a viewer's session is its link's, not this tab's own
    sessionId = id;
    try {
      if (id) sessionStorage.setItem(SESSION_KEY, id);
      else sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* storage off: this page only */ }
  }

  function show(state) {
    stateEl.textContent = state;
    document.title = label + " — " + state;
  }

  function control(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function sendBytes(bytes) {
    if (!ws || ws.readyState !== WebSocket.OPEN || !writable) return;
    for (var i = 0; i < bytes.length; i += PIECE) ws.send(bytes.subarray(i, i + PIECE));
  }

  term.onData(function (text) { sendBytes(encoder.encode(text)); });
  // Mouse reports and other non-UTF-8 input arrive as a "binary string": one char per byte.
  term.onBinary(function (text) {
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 255;
    sendBytes(bytes);
  });
  term.onResize(function (size) {
    if (!viewing) control({ type: "resize", rows: size.rows, cols: size.cols });
  });
  // A viewer's window does not size the terminal: it shows the size the server tells it.
  window.addEventListener("resize", function () { if (!viewing) fit.fit(); });

  function output(data) {
    var bytes = new Uint8Array(data);
    pending += bytes.length;
    // xterm.js decodes UTF-8 with state across writes: a character split between frames is whole.
    term.write(bytes, function () {
      pending -= bytes.length;
      if (paused && pending < LOW) {
        paused = false;
        control({ type: "resume" });
      }
    });
    if (!paused && pending > HIGH) {
      paused = true;
      control({ type: "pause" });
    }
  }

  function message(text) {
    var m;
    try { m = JSON.parse(text); } catch (e) { return; }
    if (m.type === "session") {
      // Before any output: a resumed session's replay follows, onto a clean screen.
      var asked = sessionId;
      keep(m.id);
      linger = m.linger;
      lostAt = null;
      tries = 0;
      term.reset();
      if (asked && !m.resumed) {
        term.write("\x1b[2m[the earlier session had ended: this is a new one]\x1b[0m\r\n");
      }
      if (m.view) {
        writable = !!m.write;
        show(writable ? "viewing" : "viewing (read-only)");
      } else {
        shareButton.hidden = !(m.id && linger > 0);
      }
    } else if (m.type === "size") {
      if (viewing) term.resize(m.cols, m.rows);
    } else if (m.type === "resync") {
      // This view fell behind the output: what it missed is dropped, and the recent output
      // follows onto a clean screen.
      term.reset();
      term.write("\x1b[2m[this view fell behind: resynchronised from the recent output]\x1b[0m\r\n");
    } else if (m.type === "exit") {
      ended = true;
      keep(null);
      show("exited " + m.code);
      term.write("\r\n\x1b[2m[exited with status " + m.code + "]\x1b[0m\r\n");
    } else if (m.type === "error") {
      ended = true;
      keep(null);
      show("error");
      term.write("\r\n\x1b[31m[" + m.message + "]\x1b[0m\r\n");
    }
  }

  function connect(state) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + body.dataset.ws, auth.protocols());
    ws.binaryType = "arraybuffer";
    pending = 0;
    paused = false;
    ended = false;
    button.hidden = true;
    shareButton.hidden = true;
    show(state || "connecting");
    ws.onopen = function () {
      fit.fit();
      // The exec starts at this size: no resize race at start. "session" asks the server to keep
      // the session for a reconnect (null: a new one).
      var start = { type: "start", rows: term.rows, cols: term.cols, session: sessionId };
      if (viewing) start.join = "view";
      control(start);
      show(viewing ? "joining" : "running");
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") message(ev.data);
      else output(ev.data);
    };
    ws.onclose = function (ev) {
      if (ev.code === ENDED_CODE || ev.code === 1001) {
        // Someone ended this session from the index, or the server stopped: its processes are
        // being hung up.
        ended = true;
        keep(null);
        show("ended");
        var why = ev.code === 1001 ? "ended: the server stopped" : ev.reason || "ended";
        term.write("\r\n\x1b[33m[the session was " + why + "]\x1b[0m\r\n");
      } else if (ev.code === DROPPED_CODE) {
        // A viewer that fell behind again before catching up: Reconnect views it afresh.
        ended = true;
        show("dropped");
        term.write("\r\n\x1b[33m[" + (ev.reason || "dropped: this view fell behind") + "]\x1b[0m\r\n");
      } else if (ev.code === TAKEN_CODE) {
        // Another tab has the session now; Reconnect takes it back.
        ended = true;
        show("taken over");
        term.write("\r\n\x1b[33m[the session was " + (ev.reason || "taken over") + "]\x1b[0m\r\n");
      } else if (!ended && sessionId && linger > 0) {
        retry();
        return;
      } else if (!ended) {
        show("disconnected");
      }
      button.hidden = false;
    };
  }

  // The connection was lost, not the session: try again, later each time, while the server may
  // still keep it.
  function retry() {
    if (lostAt === null) lostAt = Date.now();
    if (Date.now() - lostAt > linger * 1000) {
      show("disconnected");
      button.hidden = false;
      return;
    }
    show("reconnecting…");
    var delay = Math.min(FIRST_RETRY * Math.pow(2, tries), MAX_RETRY);
    tries += 1;
    setTimeout(function () { connect("reconnecting…"); }, delay);
  }

  function refused(text) {
    ended = true;
    show("refused");
    term.write("\x1b[31m[" + text + "]\x1b[0m\r\n");
  }

  // The browser hides why an upgrade was refused: one authenticated call first tells a missing or
  // stale token apart, and brings the title (in the --exec and --run modes it names what is served,
  // so it is not in the page itself).
  function begin() {
    fetch("/api/title", { headers: auth.headers(), cache: "no-store" })
      .then(function (resp) {
        var refusal = auth.refusal(resp.status);
        if (refusal) { refused(refusal); return; }
        if (!resp.ok) { refused("the server answered " + resp.status); return; }
        return resp.json().then(function (info) {
          if (!body.dataset.label && info.title) {
            label = info.title;
            document.getElementById("label").textContent = label;
          }
          connect();
        });
      })
      .catch(function (err) { refused("cannot reach the server: " + err.message); });
  }

  // The share link: this page's address with the session to view, and the token in the fragment
  // (the id alone grants nothing). Shown to copy; put on the clipboard where the browser lets us.
  shareButton.addEventListener("click", function () {
    if (!sessionId) return;
    var params = new URLSearchParams(location.search);
    params.set("view", sessionId);
    var link = location.origin + auth.link(location.pathname + "?" + params.toString());
    shareLink.value = link;
    shareLink.hidden = false;
    shareLink.title = "copy this link; Enter or Esc goes back to the terminal";
    shareLink.select();
    if (navigator.clipboard && window.isSecureContext) {
      // Copied: typing goes back to the shell at once. Otherwise the link stays selected to
      // copy by hand, and Enter or Esc leaves it.
      navigator.clipboard.writeText(link).then(function () {
        shareLink.title = "copied to the clipboard";
        term.focus();
      }, function () { /* shown to copy by hand */ });
    }
  });
  shareLink.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === "Escape") {
      ev.preventDefault();
      term.focus();
    }
  });

  button.addEventListener("click", function () {
    term.reset();
    begin();
    term.focus();
  });
  begin();
})();
