"""``run``, ``exec`` and ``attach``: each makes its session from the parsed options, drives it with
the command's signal handling, and says how it ended."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Dict, List, Optional

from .. import Session
from .._signals import SignalProxy
from .._streams import fileno_of
from ..session import run_to_end
from ._command_signals import CommandSignals
from ._status import EXIT_FAILURE, CommandError
from ._std import Std, replaced_streams
from ._wait import ExitWaiter


class Outcome:
    def __init__(self, session: Session, status: Optional[int] = None) -> None:
        self.session = session
        self.status = status if status is not None else session.exit_code


def _env(pairs: List[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            # `-e NAME` passes the caller's NAME on, and leaves it unset when the caller has none.
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def _drive(session: Session, forward: Optional[SignalProxy]) -> None:
    """Start and join ``session`` with the command's signal handling around it."""
    if forward is not None:
        forward.start()
    try:
        with CommandSignals(forward.forward if forward else None, fileno_of(Std.inp)):
            run_to_end(session)
    finally:
        if forward is not None:
            forward.stop()


def _proxy(client: Any, cid: str) -> SignalProxy:
    return SignalProxy(
        f"threadpty-signals-{cid[:12]}", lambda signum: client.kill(cid, signal=signum)
    )


def run(client: Any, args: argparse.Namespace) -> Outcome:
    import docker.errors

    try:
        client.inspect_image(args.image)
    except docker.errors.ImageNotFound:
        raise CommandError(
            f"Unable to find image '{args.image}' locally (threadpty does not pull images)"
        ) from None
    created = client.create_container(
        args.image,
        args.cmd or None,
        # As the CLI's, and so StdinOnce (the SDK's default): the container's stdin closes when
        # ours ends, or when we are gone.
        stdin_open=args.interactive,
        tty=args.tty,
        environment=_env(args.env),
        working_dir=args.workdir,
        user=args.user,
        name=args.name,
        host_config=client.create_host_config(network_mode=args.network, auto_remove=args.rm),
    )
    cid = created["Id"]
    try:
        waiter = ExitWaiter(client, cid, args.rm)
    except BaseException:
        if args.rm:
            _remove_if_never_started(client, cid)
        raise
    ended = False
    try:
        session = Session.run(
            client,
            cid,
            interactive=args.interactive,
            detach_keys=args.detach_keys,
            record=args.record_file,  # opened by main, which closes it
            record_input=args.record_input,
            **replaced_streams(),
        )
        # `run` forwards signals even with a TTY, as the CLI does.
        _drive(session, _proxy(client, cid) if args.sig_proxy else None)
        ended = True
    finally:
        if not ended:
            waiter.cancel()
            if args.rm:
                _remove_if_never_started(client, cid)
    if session.detached:
        waiter.cancel()
        return Outcome(session)
    if session.exit_code is None and _running(client, cid):
        waiter.cancel()  # our output went away (`| head`); the container goes on, as with the CLI
        return Outcome(session)
    return Outcome(session, waiter.status())


def _running(client: Any, cid: str) -> bool:
    import docker.errors

    try:
        return bool(client.inspect_container(cid)["State"]["Running"])
    except docker.errors.NotFound:
        return False


def _remove_if_never_started(client: Any, cid: str) -> None:
    # AutoRemove only acts once a container has run; one that never started is ours to remove.
    import docker.errors

    try:
        if client.inspect_container(cid)["State"]["Status"] == "created":
            client.remove_container(cid, force=True)
    except docker.errors.APIError:
        pass


def exec_(client: Any, args: argparse.Namespace) -> Outcome:
    session = Session.exec(
        client,
        args.container,
        args.cmd,
        interactive=args.interactive,
        tty=args.tty,
        detach_keys=args.detach_keys,
        environment=_env(args.env),
        workdir=args.workdir,
        user=args.user or "",
        record=args.record_file,
        record_input=args.record_input,
        **replaced_streams(),
    )
    _drive(session, None)  # the CLI's exec forwards no signal
    return Outcome(session)


def attach(client: Any, args: argparse.Namespace) -> Outcome:
    info = client.inspect_container(args.container)
    if not info["State"]["Running"]:
        raise CommandError("You cannot attach to a stopped container, start it first", EXIT_FAILURE)
    config = info.get("Config") or {}
    streams = replaced_streams()
    if not config.get("OpenStdin"):
        streams.pop("stdin", None)  # nothing to send it to: not an error, as with the CLI
    session = Session.attach(
        client,
        info["Id"],
        interactive=not args.no_stdin,
        detach_keys=args.detach_keys,
        record=args.record_file,
        record_input=args.record_input,
        **streams,
    )
    # `attach` forwards only to a container without a TTY, as the CLI does.
    forward = args.sig_proxy and not config.get("Tty")
    _drive(session, _proxy(client, info["Id"]) if forward else None)
    return Outcome(session)


COMMANDS: Dict[str, Callable[[Any, argparse.Namespace], Outcome]] = {
    "run": run,
    "exec": exec_,
    "attach": attach,
}
