"""The index's view of the open sessions: what ``GET /api/sessions`` lists, and which session
``GET /api/sessions/N/end`` names.

A session's id is its connection's number, counted up from 1: guessable, and meant to be. It
names a session, it grants nothing: every call that shows or ends one needs the token, as
everything else of the server does (see ``WebServer._end``). Ids that looked random would invite
treating them as a credential that they cannot be (they are shown to whoever holds the token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

SESSIONS = "/api/sessions"
_END = "/end"
# Far above any count of connections, and short enough that int() never works hard.
_MAX_DIGITS = 18
# The WebSocket close code (private use, 4000-4999) and reason a tab ended from the index gets:
# its page tells the user so instead of "disconnected".
ENDED_CODE = 4000
ENDED_REASON = "ended from the index"
# The close a page gets when another connection reattaches to its session (another tab, or the
# same page reloaded before its old connection was seen to go): the session lives on there.
TAKEN_CODE = 4001
TAKEN_REASON = "taken over by another tab"
# The header the end call needs when the server has no token (loopback only): a page of another
# site can make a browser send a plain GET to a loopback port, but not with this header, which
# no simple request may carry (a preflight is needed, and this server answers none).
END_HEADER = "X-Threadpty-End"


def end_target(route: str) -> Optional[int]:
    """The N of ``/api/sessions/N/end``; None for any other route (then not found).

    N is written as the list gives it: digits only, no sign, no leading zero.
    """
    prefix = SESSIONS + "/"
    if not (route.startswith(prefix) and route.endswith(_END)):
        return None
    digits = route[len(prefix) : -len(_END)]
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        return None
    if digits.startswith("0"):
        return None
    return int(digits)


@dataclass(frozen=True)
class SessionView:
    """One open session as the index shows it."""

    id: int
    # The container as it was asked for (its name in the URL, or --exec's), or the id of the
    # container a --run tab made.
    container: str
    # The engine's name when the server has several (the URL's ?engine=), else None.
    engine: Optional[str]
    # When it was opened (seconds since the epoch) and for how long nothing went in or out.
    started: float
    idle: float
    # Pages attached to it: one, or none while it lingers waiting for its page (--linger).
    viewers: int = 1


def listing(views: Iterable[SessionView]) -> Dict[str, Any]:
    """The JSON body of ``GET /api/sessions``: oldest first."""
    sessions: List[Dict[str, Any]] = [
        {
            "id": v.id,
            "container": v.container,
            "engine": v.engine,
            "started": round(v.started, 3),
            "idle": round(max(0.0, v.idle), 1),
            "viewers": v.viewers,
        }
        for v in sorted(views, key=lambda v: v.id)
    ]
    return {"sessions": sessions}
