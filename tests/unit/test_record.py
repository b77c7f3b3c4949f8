"""Recordings in asciicast v2: the format asciinema's own parser reads, bounded, input only when
asked, characters whole across chunks. No engine: these drive the recorder directly."""

from __future__ import annotations

import importlib
import io
import json
import os
import threading
from typing import Any, List

import pytest

from threadpty._record import LIMIT_MARK, Recording


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(data: str) -> List[Any]:
    return [json.loads(line) for line in data.splitlines()]


def test_header_output_resize_and_times() -> None:
    clock = Clock()
    f = io.StringIO()
    rec = Recording(f, 80, 24, command="/bin/sh", clock=clock, env={"TERM": "xterm-256color"})
    clock.now += 0.25
    rec.output(b"hello\r\n")
    clock.now += 1.0
    rec.resize(30, 100)
    rec.close()
    header, *events = lines(f.getvalue())
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    assert header["command"] == "/bin/sh" and header["env"] == {"TERM": "xterm-256color"}
    assert isinstance(header["timestamp"], int)
    assert events == [[0.25, "o", "hello\r\n"], [1.25, "r", "100x30"]]
    assert not f.closed, "a file object given stays the caller's"


def test_a_character_split_across_chunks_is_written_whole() -> None:
    f = io.StringIO()
    rec = Recording(f, 80, 24, clock=Clock())
    euro = "€".encode()
    rec.output(b"a" + euro[:1])
    rec.output(euro[1:] + b"b\xff")
    rec.output(euro[:2])  # cut off by the end of the session
    rec.close()
    texts = [e[2] for e in lines(f.getvalue())[1:]]
    assert texts == ["a", "€b\ufffd", "\ufffd"]


def test_input_is_recorded_only_when_asked() -> None:
    for asked in (False, True):
        f = io.StringIO()
        rec = Recording(f, 80, 24, record_input=asked, clock=Clock())
        rec.input(b"secret\r")
        rec.output(b"$ ")
        rec.close()
        codes = [e[1] for e in lines(f.getvalue())[1:]]
        assert codes == (["i", "o"] if asked else ["o"])


def test_the_file_is_bounded_and_says_where_it_stopped() -> None:
    f = io.BytesIO()
    rec = Recording(f, 80, 24, limit=4096, clock=Clock())
    for _ in range(1000):
        rec.output(b"y\n" * 50)
    rec.close()
    data = f.getvalue()
    assert len(data) <= 4096
    events = lines(data.decode())[1:]
    assert events[-1][1:] == ["m", LIMIT_MARK] and rec.full
    assert all(e[1] == "o" for e in events[:-1]) and len(events) > 10


def test_events_from_many_threads_stay_whole_lines() -> None:
    f = io.StringIO()
    rec = Recording(f, 80, 24)
    def write() -> None:
        for _ in range(300):
            rec.output(b"x" * 100)

    workers = [threading.Thread(target=write) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)
    rec.close()
    events = lines(f.getvalue())[1:]
    assert len(events) == 1200 and all(e[2] == "x" * 100 for e in events)
    times = [e[0] for e in events]
    assert times == sorted(times)


def test_bad_limit_is_refused_before_a_file_is_made(tmp_path: Any) -> None:
    path = tmp_path / "x.cast"
    with pytest.raises(ValueError, match="limit"):
        Recording(str(path), 80, 24, limit=10)
    assert not path.exists()


def test_asciinemas_own_parser_reads_it(tmp_path: Any) -> None:
    asciicast: Any = importlib.import_module("asciinema.asciicast")  # a test extra
    path = str(tmp_path / "session.cast")
    clock = Clock()
    rec = Recording(path, 120, 40, clock=clock, record_input=True)
    rec.output("\x1b[1;32mgrün\x1b[0m\r\n".encode())
    clock.now += 0.5
    rec.input(b"ls\r")
    rec.resize(50, 132)
    rec.close()
    with asciicast.open_from_url(path) as cast:
        assert cast.v2_header["width"] == 120
        events = list(cast.events())
    assert [e[1] for e in events] == ["o", "i", "r"]
    assert events[0][2].startswith("\x1b[1;32mgrün")
    assert os.path.getsize(path) > 0


def test_sizes_the_engine_refused_are_not_recorded() -> None:
    from threadpty import _plan

    f = io.StringIO()
    rec = Recording(f, 80, 24)
    taken: List[Any] = []

    def engine(rows: int, cols: int) -> None:
        if rows > 100:
            raise RuntimeError("refused")
        taken.append((rows, cols))

    resize = _plan._recorded(engine, rec)
    resize(30, 100)
    with pytest.raises(RuntimeError):
        resize(200, 100)
    rec.close()
    assert taken == [(30, 100)]
    assert [e[2] for e in lines(f.getvalue())[1:]] == ["100x30"]


def test_recording_sink_records_what_it_delivered() -> None:
    from threadpty import _plan
    from threadpty._streams import make_sink

    f, given = io.StringIO(), io.BytesIO()
    rec = Recording(f, 80, 24)
    sink = _plan.RecordingSink(make_sink(given), rec.output)
    sink.write(memoryview(b"one "))
    sink.write_many([memoryview(b"t"), memoryview(b"wo\xc3"), memoryview(b"\xbc")])
    sink.finish()
    rec.close()
    assert given.getvalue() == "one two\u00fc".encode()
    assert "".join(e[2] for e in lines(f.getvalue())[1:]) == "one two\u00fc"
    assert sink.obj is given
