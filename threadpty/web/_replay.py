"""A session's recent output, kept for the page that reattaches: at most ``limit`` bytes, and
replayed from a clean boundary, never inside an escape sequence or a UTF-8 character.

Output passes through here at the container's full speed (a ``yes`` runs while nobody watches),
so nothing looks at every byte: the bytes dropped from the front are searched (in C) for the last
byte that sets the terminal's parser to a known state whatever state it was in (ESC, CAN, SUB),
and only the few bytes of the sequence after it are stepped through here. The state where the
kept bytes begin is carried that way from one drop to the next; a replay starts there if it is
the ground state, or else at the first point from which the state is known again.

The states are those of the VT500-series parser that xterm.js follows, reduced to what decides
where a sequence ends: ESC and its intermediates, CSI, OSC (ended by BEL or ST) and the strings
ended only by ST (DCS, SOS, PM, APC). CAN and SUB cancel any of them; ESC starts a new one (in a
string it is the first byte of ST, which ends the string).
"""

from __future__ import annotations

import re
from typing import Tuple, Union

GROUND = 0
ESCAPE = 1
ESCAPE_INTERMEDIATE = 2
CSI = 3
OSC = 4
STRING = 5

_ESC = 0x1B
_CAN = 0x18
_SUB = 0x1A
_BEL = 0x07
# Bytes after which the state is the same whatever it was before (ESC leads to ESCAPE, CAN and
# SUB to GROUND).
_SYNC = re.compile(rb"[\x18\x1a\x1b]")
# What ends an OSC, besides the sync bytes.
_OSC_END = re.compile(rb"[\x07\x18\x1a\x1b]")

Buffer = Union[bytes, bytearray]


def step(state: int, byte: int) -> int:
    """The parser's state after ``byte``."""
    if byte == _ESC:
        return ESCAPE
    if byte == _CAN or byte == _SUB:
        return GROUND
    if state == GROUND:
        return GROUND
    if state == ESCAPE:
        if byte == 0x5B:  # [
            return CSI
        if byte == 0x5D:  # ]
            return OSC
        if byte in (0x50, 0x58, 0x5E, 0x5F):  # P X ^ _
            return STRING
        if 0x20 <= byte <= 0x2F:
            return ESCAPE_INTERMEDIATE
        if byte < 0x20:
            return ESCAPE  # a C0 control is executed inside a sequence, which goes on
        return GROUND  # a final byte (or one the parser ignores, ending the sequence)
    if state == ESCAPE_INTERMEDIATE:
        if 0x20 <= byte <= 0x2F or byte < 0x20:
            return ESCAPE_INTERMEDIATE
        return GROUND
    if state == CSI:
        if 0x40 <= byte <= 0x7E:
            return GROUND
        if byte < 0x80:
            return CSI  # parameters, intermediates, C0 controls, DEL
        return GROUND
    if state == OSC:
        return GROUND if byte == _BEL else OSC
    return STRING


def state_after(state: int, data: Buffer, end: int) -> int:
    """The state after ``data[:end]`` when it starts in ``state``, without stepping through all
    of it: from its last sync byte on if it has one, and only until the ground state is reached
    (which only a sync byte leaves)."""
    start = 0
    last = max(
        data.rfind(b"\x1b", 0, end), data.rfind(b"\x18", 0, end), data.rfind(b"\x1a", 0, end)
    )
    if last >= 0:
        state, start = step(state, data[last]), last + 1
    for i in range(start, end):
        if state == GROUND:
            return GROUND
        if state == OSC:
            # Only BEL can end it here: no sync byte is left.
            return GROUND if data.find(b"\x07", i, end) >= 0 else OSC
        if state == STRING:
            return STRING  # nothing left can end the string
        state = step(state, data[i])
    return state


def clean_start(state: int, data: Buffer) -> int:
    """Where a replay of ``data`` may start, ``data`` beginning in parser state ``state``: the
    first offset in the ground state and not inside a UTF-8 character, or at a sync byte.
    ``len(data)`` if there is none."""
    view = data
    end = len(view)
    i = 0
    while state != GROUND and i < end:
        if state in (OSC, STRING):
            found = (_OSC_END if state == OSC else _SYNC).search(view, i)
            if found is None:
                return end
            i = found.start()
            if view[i] != _BEL:
                return i  # a sync byte (for a string, ESC is ST's first byte): a clean start
            state = GROUND
            i += 1
            continue
        byte = view[i]
        if byte == _ESC or byte == _CAN or byte == _SUB:
            return i
        state = step(state, byte)
        i += 1
    # A character's continuation bytes (10xxxxxx): the character began before the start.
    while i < end and 0x80 <= view[i] <= 0xBF:
        i += 1
    return i


class Replay:
    """The last ``limit`` bytes of a session's output (none with 0); not thread-safe: its owner
    serialises ``append`` and ``snapshot``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()
        # The parser's state where _data begins: GROUND until bytes have been dropped.
        self._state = GROUND

    def __len__(self) -> int:
        return len(self._data)

    def append(self, chunk: Union[Buffer, memoryview]) -> None:
        limit = self.limit
        if limit <= 0:
            return
        data = self._data
        size = len(chunk)
        if size >= limit:
            # All of what was kept goes, and the chunk's head with it.
            drop = size - limit
            whole = bytes(chunk)
            self._state = state_after(state_after(self._state, data, len(data)), whole, drop)
            data[:] = whole[drop:]
            return
        data += chunk
        excess = len(data) - limit
        if excess > 0:
            self._state = state_after(self._state, data, excess)
            # A bytearray drops its head by moving its start: no copy of the rest.
            del data[:excess]

    def snapshot(self) -> Tuple[bytes, int]:
        """What to replay, from a clean start; and how many kept bytes were skipped to reach it."""
        skip = clean_start(self._state, self._data)
        # One copy, not two (a bytearray's slice is a copy of its own): with a replay of some
        # MiB, a resync or reattach would otherwise hold three of it at once for a moment.
        with memoryview(self._data) as whole, whole[skip:] as kept:
            return bytes(kept), skip
