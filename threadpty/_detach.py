"""Detach keys: Docker's syntax (``ctrl-p,ctrl-q``) and the client-side matcher.

The matcher behaves like the Docker CLI's escape proxy: bytes that could begin the sequence are
held back until the next keystroke shows whether the sequence goes on; a full match means detach and
is never sent to the container.
"""

from __future__ import annotations

import string
from typing import Tuple

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """Turn ``"ctrl-p,ctrl-q"`` into ``b"\\x10\\x11"``; raise ``ValueError`` naming a bad key."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"invalid detach keys {spec!r}: expected e.g. 'ctrl-p,ctrl-q'")
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1 and key in string.printable and not key.isspace():
            out.append(ord(key))
            continue
        if key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            if ch in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[ch])
                continue
        raise ValueError(
            f"invalid detach keys {spec!r}: unknown key {key!r} "
            "(use a single character or ctrl-<a-z, @, [, \\, ], ^, _>, separated by commas)"
        )
    return bytes(out)


class DetachMatcher:
    """Filters keystrokes; ``feed`` returns what to send on and whether the user detached."""

    __slots__ = ("_keys", "_held")

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = 0  # how many bytes of the sequence we are holding back

    def feed(self, data: bytes) -> Tuple[bytes, bool]:
        keys = self._keys
        if not self._held and keys[0] not in data:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == keys[self._held]:
                self._held += 1
                if self._held == len(keys):
                    self._held = 0
                    return bytes(out), True
                continue
            if self._held:
                out += keys[: self._held]
                self._held = 0
                if byte == keys[0]:
                    self._held = 1
                    continue
            out.append(byte)
        return bytes(out), False

    def flush(self) -> bytes:
        """What is held back, for when input ends in the middle of a possible sequence."""
        held, self._held = self._keys[: self._held], 0
        return held
