"""The ``threadpty`` command: ``run``, ``exec`` and ``attach``, like the Docker CLI's, and ``web``.

It exits with the container's or exec's status, and gives one line on stderr (no traceback unless
``--debug``) for errors of the caller's making, with the CLI's statuses: 125 for ``run`` and for bad
flags, 1 for ``exec`` and ``attach`` (an unknown container, an engine that cannot be reached) and
for ``-t`` without a terminal. Signals are handled as the CLI does (see ``_command_signals``).

One job per module: ``_args`` the options, ``_engine`` the client and the engine's errors,
``_commands`` run/exec/attach, ``_wait`` the container's exit status, ``_command_signals`` the
signals, ``_std`` the standard streams and messages, ``_status`` the statuses. ``threadpty web``
lives in ``threadpty/web/cli.py`` and is imported only when asked for.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import List, Optional, Sequence

from ._args import check, open_record, parser
from ._command_signals import Interrupted, die_of
from ._commands import COMMANDS
from ._engine import connect, explain
from ._status import EXIT_CLIENT, EXIT_FAILURE, CommandError
from ._std import OnePrefix, Std, flush, say, silence_stdout

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command with ``argv`` (``sys.argv[1:]`` by default); its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["web"] or argv[:2] == ["--debug", "web"]:
        return _web(argv)
    Std.setup()
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(Std.err)
    handler.setFormatter(OnePrefix())
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler])
    status = EXIT_CLIENT if args.command == "run" else EXIT_FAILURE
    record = None
    try:
        check(args, status)
        record = args.record_file = open_record(args, status)
        client = connect(status)
        try:
            outcome = COMMANDS[args.command](client, args)
        except (CommandError, Interrupted):
            raise
        except Exception as exc:  # noqa: BLE001 - shown as one line unless --debug
            if args.debug:
                raise
            raise explain(exc, status) from exc
        finally:
            if record is not None:
                record.close()  # the session has ended: its recording is whole
    except CommandError as exc:
        if args.debug and exc.__cause__ is not None:
            raise
        say(f"threadpty: {exc}")
        return exc.status
    except Interrupted as exc:
        # The session is closed and the terminal restored; the container or exec goes on.
        flush()
        if exc.signum in (signal.SIGINT, signal.SIGTERM):  # a quiet end, as the CLI's
            return 0
        die_of(exc.signum)
        return 128 + exc.signum
    session = outcome.session
    if session.detached:
        say("\r\nread escape sequence")
        return 0
    if outcome.status is None:
        # Our reader went away (`| head`): exit as a pipeline member killed by SIGPIPE would,
        # and keep Python from complaining while it flushes a stdout nobody reads.
        silence_stdout()
        return 128 + 13
    return outcome.status


def _web(argv: List[str]) -> int:
    """`threadpty web`: imported only when asked for (it needs the threadpty[web] extra)."""
    from ..web.cli import main as web_main

    return web_main(argv[1:] if argv[0] == "web" else ["--debug", *argv[2:]])
