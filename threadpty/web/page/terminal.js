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
  // The close code of a session ended from the index (a private-use code: README.rst).
  var ENDED_CODE = 4000;

  var body = document.body;
  var auth = window.threadptyAuth;
  var label = body.dataset.label || "terminal";
  var stateEl = document.getElementById("state");
  var button = document.getElementById("reconnect");
  var term = new Terminal({ scrollback: 5000, cursorBlink: true });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  term.focus();
  window.term = term; // tests read the buffer through it

  var encoder = new TextEncoder();
  var ws = null, pending = 0, paused = false, ended = false;

  function show(state) {
    stateEl.textContent = state;
    document.title = label + " — " + state;
  }

  function control(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function sendBytes(bytes) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (var i = 0; i < bytes.length; i += PIECE) ws.send(bytes.subarray(i, i + PIECE));
  }

  term.onData(function (text) { sendBytes(encoder.encode(text)); });
  // Mouse reports and other non-UTF-8 input arrive as a "binary string": one char per byte.
  term.onBinary(function (text) {
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 255;
    sendBytes(bytes);
  });
  term.onResize(function (size) { control({ type: "resize", rows: size.rows, cols: size.cols }); });
  window.addEventListener("resize", function () { fit.fit(); });

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
    if (m.type === "exit") {
      ended = true;
      show("exited " + m.code);
      term.write("\r\n\x1b[2m[exited with status " + m.code + "]\x1b[0m\r\n");
    } else if (m.type === "error") {
      ended = true;
      show("error");
      term.write("\r\n\x1b[31m[" + m.message + "]\x1b[0m\r\n");
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + body.dataset.ws, auth.protocols());
    ws.binaryType = "arraybuffer";
    pending = 0;
    paused = false;
    ended = false;
    button.hidden = true;
    show("connecting");
    ws.onopen = function () {
      fit.fit();
      // The exec starts at this size: no resize race at start.
      control({ type: "start", rows: term.rows, cols: term.cols });
      show("running");
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") message(ev.data);
      else output(ev.data);
    };
    ws.onclose = function (ev) {
      if (ev.code === ENDED_CODE) {
        // Someone ended this session from the index: its processes are being hung up.
        ended = true;
        show("ended");
        term.write("\r\n\x1b[33m[the session was " + (ev.reason || "ended") + "]\x1b[0m\r\n");
      } else if (!ended) {
        show("disconnected");
      }
      button.hidden = false;
    };
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

  button.addEventListener("click", function () {
    term.reset();
    begin();
    term.focus();
  });
  begin();
})();
