"""The command's options, as the Docker CLI spells them, and what can be refused before the engine
is asked anything."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any, NoReturn, Optional, Sequence

from .. import __version__
from .._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from .._streams import isatty
from ._engine import engine_line
from ._status import EXIT_CLIENT, EXIT_FAILURE, CommandError
from ._std import Std, say


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Bad flags are the CLI's status 125, not argparse's 2.
        self.print_usage(Std.err)
        self.exit(EXIT_CLIENT, f"{self.prog}: error: {message}\n")

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            say(message.rstrip("\n"))
        sys.exit(status)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: Any, *_args: Any, **_kwargs: Any) -> None:
        Std.out.write(f"threadpty {__version__}\n{engine_line()}\n")
        Std.out.flush()
        parser.exit(0)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="threadpty", description="docker run/exec/attach through threadpty")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument(
        "--version",
        action=_VersionAction,
        help="show threadpty's version and the engine's, when one answers, and exit",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, tty: bool = True) -> None:
        if tty:
            sp.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
            sp.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
            sp.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
            sp.add_argument("-w", "--workdir", metavar="DIR")
            sp.add_argument("-u", "--user", metavar="USER")
        sp.add_argument("--detach-keys", metavar="KEYS", help=f"default {DEFAULT_DETACH_KEYS}")
        sp.add_argument(
            "--record",
            metavar="FILE",
            help="record the session to FILE as an asciicast v2 file (asciinema play FILE)",
        )
        sp.add_argument(
            "--record-input",
            action="store_true",
            help="with --record, record the input too (keystrokes may be passwords)",
        )
        if sp.prog.endswith(("run", "attach")):
            sp.add_argument(
                "--sig-proxy",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="forward received signals to the container (no TTY only; default on)",
            )

    run = sub.add_parser("run", help="create a container, attach to it, and start it")
    common(run)
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("--name", metavar="N")
    run.add_argument("--network", metavar="NET", help="network mode, e.g. none, host, bridge")
    run.add_argument("image")
    run.add_argument("cmd", nargs=argparse.REMAINDER)

    ex = sub.add_parser("exec", help="run a command in a running container")
    common(ex)
    ex.add_argument("container")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)

    at = sub.add_parser("attach", help="attach to a running container")
    common(at, tty=False)
    at.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    at.add_argument("container")

    # `threadpty web` parses its own options in threadpty/web/cli.py; listed here only so that
    # --help shows it. main() hands it over before this parser runs.
    sub.add_parser("web", help="serve container terminals to the browser (threadpty[web])")
    return p


def check(args: argparse.Namespace, status: int) -> None:
    """Everything that can be refused before the engine is asked anything."""
    if args.command == "exec" and not args.cmd:
        raise CommandError("exec needs a command: threadpty exec CONTAINER CMD...", EXIT_FAILURE)
    if getattr(args, "tty", False) and args.interactive and not isatty(Std.inp):
        raise CommandError("the input device is not a TTY", EXIT_FAILURE)
    if args.record_input and not args.record:
        raise CommandError("--record-input needs --record FILE", status)
    if args.detach_keys == "":
        args.detach_keys = None  # as the CLI: an empty value means the default
    if args.detach_keys is not None:
        try:
            parse_detach_keys(args.detach_keys)
        except ValueError as exc:
            raise CommandError(str(exc), status) from exc


def open_record(args: argparse.Namespace, status: int) -> Optional[IO[str]]:
    """The file ``--record`` names, created (or emptied) now: a file that cannot be created is
    refused before the engine is touched. The caller closes it."""
    if not args.record:
        return None
    try:
        return open(args.record, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(
            f"cannot create the recording {args.record}: {exc.strerror or exc}", status
        ) from exc
