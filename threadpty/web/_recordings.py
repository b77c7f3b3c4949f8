"""``threadpty web --record DIR``: the folder of recordings, one asciicast v2 file per tab.

The server names every file (UTC time, the server's id, the tab's number, the container's name
kept to safe characters), creates it exclusively with mode 0600 and never takes a name from a
client to make one. A name asked for over HTTP is served only if the folder's listing has it
(a regular file, of the form a server gives), so no path from a URL ever reaches ``open``.

A tab's recording never stops its tab: past its bound the file ends with the library's marker
(see :mod:`threadpty._record`) and the tab goes on; a write that fails ends that recording with
one line in the log, which names the file and the error, never what was being written.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import re
import stat
import tempfile
import threading
import time
from typing import IO, Any, Dict, List, Optional, Tuple, cast

from threadpty._record import DEFAULT_LIMIT, Recording

log = logging.getLogger("threadpty.web")

SUFFIX = ".cast"
# What a server names its files, and so all that is ever listed or served.
NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{1,32}-[0-9]{1,10}-[A-Za-z0-9_.-]{1,64}\.cast$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class RecordingsError(ValueError):
    """The folder cannot take recordings; the text is for the user."""


def sanitise(label: str) -> str:
    """A container's name (or image) as a part of a file name: letters, digits, ``_.-``."""
    kept = _UNSAFE.sub("_", label).strip("._-")[:64].strip("._-")
    return kept or "container"


class _Appender:
    """A file that takes each event whole as it comes (one ``write`` per line, no buffer), so a
    recording served while it is still growing ends on a whole line, or nearly (see the page).

    Its lock keeps a write from meeting the close: the output thread of a tab whose page stopped
    reading may still be writing when the tab ends, and a descriptor closed under it could be
    another file's by the time it writes.
    """

    def __init__(self, fd: int) -> None:
        self._fd: Optional[int] = fd
        self._lock = threading.Lock()

    def write(self, data: bytes) -> int:
        with self._lock:
            if self._fd is None:
                raise OSError(errno.EBADF, "the recording is closed")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> bool:
        """Close the file; True for the call that did."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is None:
            return False
        try:
            os.close(fd)
        except OSError:
            pass
        return True


class TabRecording:
    """One tab's recording: the library's :class:`Recording` on a file of the folder, with its
    write errors kept from the tab (the first ends the recording and is logged once)."""

    def __init__(
        self, name: str, file: _Appender, recording: Recording, size: Tuple[int, int]
    ) -> None:
        self.name = name
        self._file = file
        self._recording = recording
        self._stopped = False
        # The header's size: a resize to it (the first size, applied once the exec runs) is
        # no change.
        self._size = size

    def output(self, data: memoryview) -> None:
        if not self._stopped:
            try:
                self._recording.output(data)
            except OSError as exc:
                self._failed(exc)

    def input(self, data: bytes) -> None:
        if not self._stopped and self._recording.record_input:
            try:
                self._recording.input(data)
            except OSError as exc:
                self._failed(exc)

    def resize(self, rows: int, cols: int) -> None:
        """A size the engine took (rows, cols); recorded when it changes."""
        if (rows, cols) == self._size:
            return
        self._size = (rows, cols)
        if not self._stopped:
            try:
                self._recording.resize(rows, cols)
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        """Write what is left and close the file; from any thread, more than once."""
        if not self._stopped:
            try:
                self._recording.close()
            except OSError as exc:
                self._failed(exc)
        self._stopped = True
        self._file.close()

    def _failed(self, exc: OSError) -> None:
        self._stopped = True
        # The file keeps what was written, whole lines but for the failed one. Whichever thread
        # closes it tells it, once.
        if self._file.close():
            # strerror only: the log never gets what was being written.
            log.warning("recording %s stopped: %s", self.name, exc.strerror or type(exc).__name__)


class Recordings:
    """The folder: checked at start, a new file per tab, its listing, the path of a name in it."""

    def __init__(
        self,
        folder: str,
        server_id: str,
        *,
        record_input: bool = False,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.folder = os.path.abspath(folder)
        self.server_id = server_id
        self.record_input = record_input
        self.limit = limit
        self._numbers = itertools.count(1)

    def check(self) -> None:
        """Raise :class:`RecordingsError` unless the folder is a directory a file can be made
        in (tried for real: permission bits say nothing to root, nor of a read-only mount)."""
        if not isinstance(self.limit, int) or self.limit < 256:
            raise RecordingsError(f"--record-max must be 256 bytes or more, not {self.limit}")
        if not os.path.isdir(self.folder):
            raise RecordingsError(f"--record {self.folder}: not a directory")
        try:
            fd, probe = tempfile.mkstemp(prefix=".threadpty-probe-", dir=self.folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise RecordingsError(
                f"--record {self.folder}: cannot write there: {exc.strerror or exc}"
            ) from None

    def open(
        self, label: str, size: Tuple[int, int], command: Optional[List[str]] = None
    ) -> TabRecording:
        """A new recording for a tab starting at ``size`` (rows, cols); raises ``OSError`` when
        the file cannot be made."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{stamp}-{self.server_id}-{next(self._numbers)}-{sanitise(label)}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_NOFOLLOW", 0)
        file = _Appender(os.open(os.path.join(self.folder, name), flags, 0o600))
        try:
            rows, cols = size
            recording = Recording(
                cast(IO[Any], file),  # it calls write and flush only
                cols,
                rows,
                command=" ".join(command) if command else None,
                title=label,
                record_input=self.record_input,
                limit=self.limit,
                env={"TERM": "xterm-256color"},
            )
        except BaseException:
            file.close()
            raise
        return TabRecording(name, file, recording, (rows, cols))

    def discard(self, recording: TabRecording) -> None:
        """Close and remove the recording of a tab that never started."""
        recording.close()
        try:
            os.unlink(os.path.join(self.folder, recording.name))
        except OSError:
            pass

    def listing(self) -> List[Dict[str, Any]]:
        """The recordings in the folder, newest first: name, size in bytes, last change (epoch
        seconds)."""
        found: List[Dict[str, Any]] = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not NAME.match(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.append({"name": entry.name, "size": st.st_size, "mtime": st.st_mtime})
        found.sort(key=lambda e: (e["mtime"], e["name"]), reverse=True)
        return found

    def open_file(self, name: str) -> Optional[Tuple[IO[bytes], int]]:
        """The recording ``name`` opened to be read, with its size now, if the folder's listing
        has it; else None. Opened without following a link, and checked to be a regular file,
        in case the name was swapped since it was listed."""
        if not NAME.match(name) or all(e["name"] != name for e in self.listing()):
            return None
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(os.path.join(self.folder, name), flags)
        except OSError:
            return None
        f = os.fdopen(fd, "rb")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            f.close()
            return None
        return f, st.st_size
