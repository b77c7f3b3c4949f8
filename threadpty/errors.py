"""Exceptions raised by threadpty."""

from __future__ import annotations


class ThreadptyError(Exception):
    """Base class of the errors threadpty raises itself."""


class ProtocolError(ThreadptyError):
    """The attach stream broke Docker's framing (bad stream id, truncated frame)."""


class EngineError(ThreadptyError):
    """The engine reported an error inside the stream, or went away mid-session."""
