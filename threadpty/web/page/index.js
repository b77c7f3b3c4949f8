// The index of `threadpty web`: the running containers, from /api/containers (which needs the
// token), one link each to its terminal. Built with DOM calls: no name is ever parsed as HTML.
(function () {
  "use strict";
  var auth = window.threadptyAuth;
  var list = document.getElementById("list");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function problem(text) {
    list.replaceChildren(el("p", text, "error"));
  }

  function render(data) {
    var several = data.engines.length > 1;
    var out = [];
    data.engines.forEach(function (engine) {
      if (several) out.push(el("h2", "Engine " + engine.name));
      if (engine.error) { out.push(el("p", engine.error, "error")); return; }
      if (!engine.containers.length) { out.push(el("p", "No running containers.")); return; }
      var table = el("table");
      var head = el("tr");
      ["Name", "Image", "Status", ""].forEach(function (h) { head.appendChild(el("th", h)); });
      table.appendChild(head);
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
        table.appendChild(row);
      });
      out.push(table);
    });
    list.replaceChildren.apply(list, out);
  }

  fetch("/api/containers", { headers: auth.headers(), cache: "no-store" })
    .then(function (resp) {
      var refused = auth.refusal(resp.status);
      if (refused) throw new Error(refused);
      if (!resp.ok) throw new Error("the server answered " + resp.status);
      return resp.json();
    })
    .then(render)
    .catch(function (err) { problem(err.message); });
})();
