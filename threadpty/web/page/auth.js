// The token of `threadpty web`, shared by its pages (README.rst, "Security").
// It comes in the URL's fragment (#token=...), which the browser never sends to any server, and is
// kept in sessionStorage, which only this origin (scheme, host and port) can read: never a cookie,
// since browsers send a host's cookies to all of its ports. Each call presents it itself.
(function () {
  "use strict";
  var KEY = "threadpty-token";
  var token = null;
  try { token = sessionStorage.getItem(KEY); } catch (e) { /* storage off: this page only */ }

  var params = new URLSearchParams(location.hash.slice(1));
  if (params.has("token")) {
    token = params.get("token");
    try { sessionStorage.setItem(KEY, token); } catch (e) { /* kept for this page only */ }
    // Out of the address bar (and of what gets copied from it).
    params.delete("token");
    var rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }

  function base64url(text) {
    var bytes = new TextEncoder().encode(text), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  window.threadptyAuth = {
    token: token,
    // For fetch.
    headers: function () { return token ? { Authorization: "Bearer " + token } : {}; },
    // For new WebSocket(url, protocols): its API cannot set headers, so the token rides as a
    // second subprotocol; the server answers with "threadpty" and never echoes the token's.
    protocols: function () {
      return token ? ["threadpty", "threadpty.token." + base64url(token)] : ["threadpty"];
    },
    // A link to another page of this server that keeps working when opened in a new tab (which
    // starts with an empty sessionStorage): the token in the fragment again.
    link: function (path) { return token ? path + "#token=" + encodeURIComponent(token) : path; },
    // What a refused call means, for the user.
    refusal: function (status) {
      if (status === 401) return "a token is needed: open the URL threadpty web printed";
      if (status === 403) return "wrong token: open the URL threadpty web printed";
      return null;
    }
  };
})();
