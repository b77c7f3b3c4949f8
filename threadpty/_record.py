"""A session's recording: an asciicast v2 file (asciinema's format) of its output and sizes.

One JSON header line, then one ``[seconds, code, text]`` line per event: ``o`` for output, ``r``
for a new size (``COLSxROWS``), ``i`` for input (only when asked: keystrokes may be passwords),
``m`` for the marker that says the file reached its bound. Bytes are decoded as UTF-8 one stream at
a time, so a character split across two chunks is written whole in the second event; bytes that
are not UTF-8 become U+FFFD, as a terminal would show them.

The file is bounded: past ``limit`` bytes no more events are written, and the last line says so,
so a flood can neither fill the disk nor make the file unreadable. Events come from several
threads (output, input, resize); one lock keeps each line whole and the times in order.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import threading
import time
from typing import IO, Any, Callable, Dict, Optional, Union

PathOrFile = Union[str, "os.PathLike[str]", IO[Any]]

# 64 MiB holds hours of an interactive shell; a flood reaches it in seconds and stops there.
DEFAULT_LIMIT = 64 * 1024 * 1024
LIMIT_MARK = "recording stopped: it reached its size limit"


class Recording:
    """Writes one session's events to an asciicast v2 file, within ``limit`` bytes.

    ``file`` is a path (created, or truncated, and closed by :meth:`close`) or an open file
    object, text or binary, which stays open. ``clock`` gives seconds (monotonic); a test may pass
    its own.
    """

    def __init__(
        self,
        file: PathOrFile,
        width: int,
        height: int,
        *,
        command: Optional[str] = None,
        title: Optional[str] = None,
        record_input: bool = False,
        limit: int = DEFAULT_LIMIT,
        env: Optional[Dict[str, str]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 256:
            raise ValueError(f"a recording's limit is a number of bytes, 256 or more: {limit!r}")
        if isinstance(file, (str, os.PathLike)):
            self._file: IO[Any] = open(file, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._owned = True
        else:
            self._file = file
            self._owned = False
        self._text = isinstance(self._file, io.TextIOBase)
        self._clock = clock
        self._start = clock()
        self._limit = limit
        self._written = 0
        self._full = False
        self._closed = False
        self.record_input = record_input
        self._decoders = {
            code: codecs.getincrementaldecoder("utf-8")(errors="replace") for code in "oi"
        }
        self._lock = threading.Lock()
        header: Dict[str, Any] = {
            "version": 2,
            "width": int(width) or 80,
            "height": int(height) or 24,
            "timestamp": int(time.time()),
            "env": env if env is not None else {"TERM": os.environ.get("TERM", "xterm")},
        }
        if command is not None:
            header["command"] = command
        if title is not None:
            header["title"] = title
        with self._lock:
            self._put(json.dumps(header, ensure_ascii=False))

    @property
    def full(self) -> bool:
        """Whether the file reached its limit (and takes no more events)."""
        return self._full

    def output(self, data: memoryview | bytes) -> None:
        """Record output the container wrote."""
        self._event("o", data)

    def input(self, data: memoryview | bytes) -> None:
        """Record input sent to the container; a no-op unless ``record_input`` was given."""
        if self.record_input:
            self._event("i", data)

    def resize(self, height: int, width: int) -> None:
        """Record a new size of the terminal (rows, columns: the order of ``threadpty.size``)."""
        with self._lock:
            self._append("r", f"{width}x{height}")

    def close(self) -> None:
        """Write what the decoders hold, then flush; close the file if this object opened it."""
        with self._lock:
            if self._closed:
                return
            for code, decoder in self._decoders.items():
                rest = decoder.decode(b"", final=True)
                if rest:
                    self._append(code, rest)
            self._closed = True
            try:
                self._file.flush()
            finally:
                if self._owned:
                    self._file.close()

    def _event(self, code: str, data: memoryview | bytes) -> None:
        with self._lock:
            if self._full or self._closed:
                return
            text = self._decoders[code].decode(bytes(data))
            if text:
                self._append(code, text)

    def _append(self, code: str, text: str) -> None:
        if self._full or self._closed:
            return
        seconds = round(max(0.0, self._clock() - self._start), 6)
        line = json.dumps([seconds, code, text], ensure_ascii=False)
        # A line is counted in UTF-8 bytes; the marker always fits in the room kept for it.
        size = len(line.encode("utf-8")) + 1
        if self._written + size > self._limit - 128:
            self._full = True
            self._put(json.dumps([seconds, "m", LIMIT_MARK]))
            return
        self._put(line)

    def _put(self, line: str) -> None:
        data = line + "\n"
        self._file.write(data if self._text else data.encode("utf-8"))
        self._written += len(data.encode("utf-8"))
