// The recordings of `threadpty web --record`: their list from /api/recordings and a player
// (asciinema-player) for one of them, fetched with the token from /api/recordings/NAME.
// Names are shown with DOM calls, never parsed as HTML. The speed is an option the player takes
// when it is made: a new speed makes it anew at the same position.
(function () {
  "use strict";
  var auth = window.threadptyAuth;
  var list = document.getElementById("list");
  var section = document.getElementById("playing");
  var seek = document.getElementById("seek");
  var time = document.getElementById("time");
  var speed = document.getElementById("speed");
  var state = { name: null, data: null, player: null, playing: false, duration: 0 };
  window.recordings = state;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function call(path) {
    return fetch(path, { headers: auth.headers(), cache: "no-store" }).then(function (resp) {
      var refused = auth.refusal(resp.status);
      if (refused) throw new Error(refused);
      if (!resp.ok) throw new Error("the server answered " + resp.status);
      return resp;
    });
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KiB";
    return (bytes / 1048576).toFixed(1) + " MiB";
  }

  function render(data) {
    if (!data.recordings.length) { list.replaceChildren(el("p", "No recordings yet.")); return; }
    var table = el("table");
    var head = el("tr");
    ["Recording", "Size", "Last written", ""].forEach(function (h) {
      head.appendChild(el("th", h));
    });
    table.appendChild(head);
    data.recordings.forEach(function (r) {
      var row = el("tr");
      row.appendChild(el("td", r.name, "name"));
      row.appendChild(el("td", size(r.size), "size"));
      row.appendChild(el("td", new Date(r.mtime * 1000).toLocaleString()));
      var button = el("button", "play", "open");
      button.type = "button";
      button.addEventListener("click", function () { open(r.name); });
      var cell = el("td");
      cell.appendChild(button);
      row.appendChild(cell);
      table.appendChild(row);
    });
    list.replaceChildren(table);
  }

  function showTime() {
    if (!state.player) return;
    var now = state.player.getCurrentTime() || 0;
    if (document.activeElement !== seek) seek.value = now;
    time.textContent = now.toFixed(1) + " / " + state.duration.toFixed(1) + " s";
  }

  function make(startAt, play) {
    if (state.player) state.player.dispose();
    var player = AsciinemaPlayer.create({ data: state.data }, document.getElementById("player"), {
      speed: Number(speed.value), startAt: startAt, preload: true, fit: "width",
      autoPlay: play
    });
    state.player = player;
    state.playing = play;
    player.addEventListener("play", function () { state.playing = true; });
    player.addEventListener("pause", function () { state.playing = false; });
    player.addEventListener("ended", function () { state.playing = false; });
    player.addEventListener("ready", function () {
      state.duration = player.getDuration() || 0;
      seek.max = state.duration;
      showTime();
    });
  }

  function open(name) {
    call("/api/recordings/" + encodeURIComponent(name))
      .then(function (resp) { return resp.text(); })
      .then(function (text) {
        // A recording still being written may end inside its last line: that line waits for
        // the next look.
        var end = text.lastIndexOf("\n");
        state.data = end >= 0 ? text.slice(0, end + 1) : text;
        state.name = name;
        document.getElementById("name").textContent = name;
        section.hidden = false;
        make(0, false);
      })
      .catch(function (err) { list.appendChild(el("p", err.message, "error")); });
  }

  document.getElementById("play").addEventListener("click", function () {
    if (state.player) state.player.play();
  });
  document.getElementById("pause").addEventListener("click", function () {
    if (state.player) state.player.pause();
  });
  seek.addEventListener("change", function () {
    if (state.player) state.player.seek(Number(seek.value)).then(showTime);
  });
  speed.addEventListener("change", function () {
    if (state.player) make(state.player.getCurrentTime() || 0, state.playing);
  });
  setInterval(showTime, 250);

  call("/api/recordings")
    .then(function (resp) { return resp.json(); })
    .then(render)
    .catch(function (err) { list.replaceChildren(el("p", err.message, "error")); });
})();
