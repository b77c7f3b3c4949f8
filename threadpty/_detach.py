"""Detach keys: Docker's syntax (``ctrl-p,ctrl-q``) and the client-side matcher.

The matcher behaves like the Docker CLI's escape proxy: bytes that could begin the sequence are
held back until the next keystroke shows whether the sequence goes on; a full match means detach and
is never sent to the container.
"""

from __future__ import annotations

from typing import Tuple

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

# Exactly what the engine accepts (moby's term.ToBytes): these names, case and all, "DEL", or one
# ASCII character; keys separated by commas, nothing else. Anything we let through that it refuses
# would fail only after the container or exec had been created.
_NAMED = {f"ctrl-{c}": i for i, c in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}
_NAMED["DEL"] = 127


def parse_detach_keys(spec: str) -> bytes:
    """Turn ``"ctrl-p,ctrl-q"`` into ``b"\\x10\\x11"``; raise ``ValueError`` naming a bad key."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"invalid detach keys {spec!r}: expected e.g. 'ctrl-p,ctrl-q'")
    out = bytearray()
    for key in spec.split(","):
        if key in _NAMED:
            out.append(_NAMED[key])
        elif len(key) == 1 and key.isascii():
            out.append(ord(key))
        else:
            near = [n for n in _NAMED if n.lower() == key.strip().lower()]
            hint = f"; did you mean {near[0]!r}? (case matters, no spaces)" if near else ""
            raise ValueError(
                f"invalid detach keys {spec!r}: unknown key {key!r}{hint} "
                "(use a single character, DEL or ctrl-<a-z, @, [, \\, ], ^, _>, "
                "separated by commas)"
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
