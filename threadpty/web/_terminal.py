"""One container terminal driven by a program: bytes in, a callable for bytes out, a size.

A thin layer over :class:`threadpty.Session` with ``stdin=PIPE`` and ``stdout=callable`` (the
"sessions driven by programs" API): the exec (or, for ``--run``, the container) starts at the size
the browser asked for, so there is no resize race at start.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, List, Optional, Tuple

import threadpty

log = logging.getLogger("threadpty.web")

# Set in the environment of every exec we start, so that the exec can be found and hung up when
# its tab goes: the engine has no call that ends an exec, and closing (or half-closing) the exec's
# connection leaves the process running (seen with the engine here: the shell stays).
MARK = "THREADPTY_WEB_SESSION"

# Run in the container, as a separate exec, to hang up the processes carrying the mark: what the
# kernel would do when a real terminal closes. One grep reads every process's environment (a shell
# loop forking per process made 50 hang-ups at once take minutes on a loaded machine); the loop is
# the fallback for a grep without -z.
_HANGUP = (
    'pids=$(grep -lFxz "$1" /proc/[0-9]*/environ 2>/dev/null); '
    "[ $? -le 1 ] || pids=$(for d in /proc/[0-9]*; do "
    'case "$(tr "\\000" "\\n" < "$d/environ" 2>/dev/null)" in *"$1"*) echo "$d/environ";; '
    "esac; done); "
    'for f in $pids; do p=${f#/proc/}; kill -HUP "${p%/environ}" 2>/dev/null; done'
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
        session = threadpty.Session.run(
            client, container, size=size, stdin=threadpty.PIPE, stdout=on_output
        )
        session.start()
        return cls(client, session, None, container)

    def write(self, data: bytes) -> None:
        """Send input; raises BrokenPipeError once the session has ended."""
        try:
            self.session.stdin.write(data)
        except ValueError:  # the pipe was closed with the session
            raise BrokenPipeError("the session has ended") from None

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
