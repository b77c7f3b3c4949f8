"""Unit tests of detach-key parsing and the client-side matcher."""

from __future__ import annotations

import pytest

from threadpty._detach import DetachMatcher, parse_detach_keys


@pytest.mark.parametrize(
    "spec, keys",
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-x,x", b"\x18x"),
        ("a", b"a"),
        ("ctrl-@", b"\x00"),
        ("ctrl-[", b"\x1b"),
        ("ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1c\x1d\x1e\x1f"),
        ("DEL,ctrl-z", b"\x7f\x1a"),
        (" ", b" "),
    ],
)
def test_parse(spec: str, keys: bytes) -> None:
    assert parse_detach_keys(spec) == keys


# The engine refuses all of these, some only after the container or exec has been created.
@pytest.mark.parametrize(
    "spec, bad",
    [
        ("ctrl-1", "ctrl-1"),
        ("ab", "ab"),
        ("ctrl-p,", "''"),
        ("ctrl-P", "did you mean 'ctrl-p'"),
        ("CTRL-A,b", "did you mean 'ctrl-a'"),
        ("ctrl-p, ctrl-q", "did you mean 'ctrl-q'"),
        ("é", "é"),
        ("del", "did you mean 'DEL'"),
    ],
)
def test_parse_rejects_naming_the_key(spec: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        parse_detach_keys(spec)


def test_parse_rejects_empty() -> None:
    with pytest.raises(ValueError):
        parse_detach_keys("")


def test_matcher_passes_plain_input() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"ls -l\r") == (b"ls -l\r", False)


def test_matcher_detects_sequence_in_one_chunk() -> None:
    assert DetachMatcher(b"\x10\x11").feed(b"abc\x10\x11rest") == (b"abc", True)


def test_matcher_detects_sequence_across_chunks() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)
    assert m.feed(b"\x11") == (b"", True)


def test_matcher_releases_held_prefix_when_sequence_breaks() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"\x10") == (b"", False)
    assert m.feed(b"x") == (b"\x10x", False)


def test_matcher_restarts_on_repeated_first_key() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"\x10\x10\x11") == (b"\x10", True)


def test_matcher_flush_returns_held_bytes() -> None:
    m = DetachMatcher(b"\x18x")
    assert m.feed(b"\x18") == (b"", False)
    assert m.flush() == b"\x18"
