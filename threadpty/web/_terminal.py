"""One container terminal driven by a program: bytes in, a callable for bytes out, a size.

A thin layer over :class:`threadpty.Session` with ``stdin=PIPE`` and ``stdout=callable`` (the
"sessions driven by programs" API): the exec (or, for ``--run``, the container) starts at the size
the browser asked for, so there is no resize race at start.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, Dict, List, Optional, Tuple

import threadpty

log = logging.getLogger("threadpty.web")

# Set in the environment of every exec we start, so that the exec can be found and hung up when
# its tab goes: the engine has no call that ends an exec, and closing the exec's connection leaves
# the process running (moby#9098).
MARK = "THREADPTY_WEB_SESSION"

# Run in the container, as a separate exec, to hang up the processes carrying the mark: what the
# kernel would do when a real terminal closes. Only the shell's builtins and /proc are needed.
_HANGUP = (
    'for d in /proc/[0-9]*; do '
    'case "$(tr "\\000" "\\n" < "$d/environ" 2>/dev/null)" in '
    '*"$1"*) kill -HUP "${d#/proc/}" 2>/dev/null;; esac; done'
)


class Terminal:
    """A started session; ``write``, ``resize``, ``close`` and ``join`` from any thread."""

    def __init__(
        self,
        client: Any,
        session: Any,
        exec_mark: Optional[str],
        container: str,
    ) -> None:
        self.client = client
        self.session = session
        self.container = container
        self._exec_mark = exec_mark

    @classmethod
    def exec(
        cls,
        client: Any,
        container: str,
        command: List[str],
        size: Tuple[int, int],
        on_output: Callable[[bytes], None],
    ) -> "Terminal":
        mark = f"{MARK}={secrets.token_hex(8)}"
        if not hasattr(threadpty, "PIPE"):
            legacy = _Legacy.exec(client, container, command, size, on_output, [mark])
            return cls(client, legacy, mark, container)
        session = threadpty.Session.exec(
            client,
            container,
            command,
            tty=True,
            size=size,
            stdin=threadpty.PIPE,
            stdout=on_output,
            environment=[mark],
        )
        session.start()
        return cls(client, session, mark, container)

    @classmethod
    def run(
        cls,
        client: Any,
        container: str,
        size: Tuple[int, int],
        on_output: Callable[[bytes], None],
    ) -> "Terminal":
        if not hasattr(threadpty, "PIPE"):
            return cls(client, _Legacy.run(client, container, size, on_output), None, container)
        session = threadpty.Session.run(
            client, container, size=size, stdin=threadpty.PIPE, stdout=on_output
        )
        session.start()
        return cls(client, session, None, container)

    def write(self, data: bytes) -> None:
        self.session.stdin.write(data)

    def resize(self, rows: int, cols: int) -> None:
        self.session.resize(rows, cols)

    def close(self) -> None:
        """End the session; an exec's processes get SIGHUP, as from a closed terminal."""
        running = self.session.running
        self.session.close()
        if running and self._exec_mark is not None:
            self.hang_up()

    def hang_up(self) -> None:
        try:
            created = self.client.exec_create(
                self.container, ["/bin/sh", "-c", _HANGUP, "hangup", self._exec_mark]
            )
            self.client.exec_start(created["Id"])
        except Exception as exc:  # noqa: BLE001 - the container may be gone; nothing to hang up
            log.debug("could not hang up the exec in %s: %s", self.container[:12], exc)

    def join(self) -> Optional[int]:
        code: Optional[int] = self.session.join()
        return code


class _Legacy:
    """TEMPORARY: the same on the API before "sessions driven by programs" (a pipe for input, an
    object with write() for output, a resize after start). Goes when that API is on main."""

    def __init__(self, session: Any, resize: Callable[[int, int], None]) -> None:
        import os

        self.session = session
        self._resize = resize
        self._w = -1
        self._os = os

    @classmethod
    def _make(cls, build: Callable[[Any, Any], Any], resize: Callable[[int, int], None],
              size: Tuple[int, int], on_output: Callable[[bytes], None]) -> "_Legacy":
        import os

        r, w = os.pipe()
        reader = os.fdopen(r, "rb", buffering=0)

        class Out:
            def write(self, data: Any) -> int:
                on_output(bytes(data))
                return len(data)

        session = build(reader, Out())
        self = cls(session, resize)
        self._w = w
        self._reader = reader
        session.start()
        resize(*size)
        return self

    @classmethod
    def exec(cls, client: Any, container: str, command: List[str], size: Tuple[int, int],
             on_output: Callable[[bytes], None], env: List[str]) -> "_Legacy":
        holder: Dict[str, Any] = {}

        def build(stdin: Any, stdout: Any) -> Any:
            s = threadpty.Session.exec(client, container, command, tty=True, stdin=stdin,
                                       stdout=stdout, environment=env)
            holder["id"] = s.operation.exec_id
            return s

        return cls._make(build, lambda h, w: client.exec_resize(holder["id"], height=h, width=w),
                         size, on_output)

    @classmethod
    def run(cls, client: Any, container: str, size: Tuple[int, int],
            on_output: Callable[[bytes], None]) -> "_Legacy":
        def build(stdin: Any, stdout: Any) -> Any:
            return threadpty.Session.run(client, container, stdin=stdin, stdout=stdout)

        return cls._make(build, lambda h, w: client.resize(container, height=h, width=w),
                         size, on_output)

    @property
    def stdin(self) -> "_Legacy":
        return self

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._os.write(self._w, view)
            view = view[n:]

    def resize(self, rows: int, cols: int) -> None:
        try:
            self._resize(rows, cols)
        except Exception:  # noqa: BLE001
            pass

    @property
    def running(self) -> bool:
        return bool(self.session.running)

    def close(self) -> None:
        self.session.close()
        self._shut()

    def _shut(self) -> None:
        if self._w >= 0:
            self._os.close(self._w)
            self._w = -1

    def join(self) -> Any:
        try:
            return self.session.join()
        finally:
            self._shut()
            self._reader.close()
