"""The wire protocol of ``threadpty web`` (README.rst, "threadpty web" documents it for clients).

Binary frames carry terminal bytes both ways. Text frames carry one JSON object each:

- client to server: ``start`` (first, with ``rows`` and ``cols``, and ``session``: null to ask
  for a session that outlives the connection, or the id of one to reattach to; with ``join``:
  ``"view"`` the id of one to view, beside its page, instead of taking it over), ``resize``
  (``rows``, ``cols``), ``pause``, ``resume``;
- server to client: ``session`` (``id``, ``resumed``, ``linger``: the answer to a start that
  carried ``session``, before any output; a viewer's also has ``view``: true and ``write``),
  ``size`` (``rows``, ``cols``: the session's size, to viewers), ``resync`` (to a viewer that
  fell behind: a fresh replay follows, onto a clean screen), ``exit`` (``code``; a normal close
  follows) and ``error`` (``message``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Tuple

# Bounds on what a client may send: a frame (the page splits pastes into pieces below this), and a
# terminal size (a few times any real screen; the engine would accept absurd ones).
MAX_MESSAGE = 64 * 1024
MAX_ROWS = 1000
MAX_COLS = 1000
# A session id is secrets.token_urlsafe(24): 32 characters. Anything much longer is no id of ours.
MAX_SESSION_ID = 64


class BadMessage(ValueError):
    """A message that does not follow the protocol; the text is safe to send back."""


def parse_control(text: str) -> Dict[str, Any]:
    try:
        message = json.loads(text)
    except RecursionError:
        # Deep nesting ("[" * 60000 fits in one frame) exhausts the parser's stack: a bad
        # message like any other, not the end of the session.
        raise BadMessage("a text frame must be one JSON object, nested at most a little") from None
    except ValueError:
        raise BadMessage("a text frame must be one JSON object") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadMessage('a control message needs a "type"')
    kind = message["type"]
    if kind not in ("start", "resize", "pause", "resume"):
        raise BadMessage(f"unknown message type {kind[:40]!r}")
    if kind in ("start", "resize"):
        message["size"] = size_of(message)
    if kind == "start" and "session" in message:
        key = message["session"]
        if key is not None and not (isinstance(key, str) and 0 < len(key) <= MAX_SESSION_ID):
            raise BadMessage('"session" must be null or a session id')
    if kind == "start" and message.get("join", "own") not in ("own", "view"):
        raise BadMessage('"join" must be "own" or "view"')
    if kind == "start" and message.get("join") == "view" and not message.get("session"):
        raise BadMessage('a start with "join": "view" names the session to view')
    return message


def size_of(message: Dict[str, Any]) -> Tuple[int, int]:
    rows, cols = message.get("rows"), message.get("cols")
    for name, value, top in (("rows", rows, MAX_ROWS), ("cols", cols, MAX_COLS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise BadMessage(f'"{name}" must be a whole number from 1 to {top}')
    return rows, cols  # type: ignore[return-value]


def exit_message(code: Any) -> str:
    return json.dumps({"type": "exit", "code": code})


def error_message(text: str) -> str:
    return json.dumps({"type": "error", "message": text})


def session_message(
    key: str, resumed: bool, linger: float, *, view: bool = False, write: bool = False
) -> str:
    message: Dict[str, Any] = {"type": "session", "id": key, "resumed": resumed, "linger": linger}
    if view:
        message.update(view=True, write=write)
    return json.dumps(message)


def size_message(rows: int, cols: int) -> str:
    return json.dumps({"type": "size", "rows": rows, "cols": cols})


def resync_message() -> str:
    return json.dumps({"type": "resync"})
