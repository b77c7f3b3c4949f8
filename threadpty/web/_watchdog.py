"""A process that outlives ``threadpty web --run`` to remove its containers if it is killed.

The engine does not end a TTY container's shell when its attach connection dies (``StdinOnce``
closes stdin only without a TTY: a ``docker run -it --rm`` whose client is killed with SIGKILL
leaves its container running too, seen with Docker 20.10). So the server starts this watchdog
with a pipe only the server writes to. When the server ends, however it ends, the kernel closes
the pipe; the watchdog then removes the containers labelled with the server's id, and exits.
A server that stops normally has removed them itself by then, and the watchdog finds none.

Usage (by the server only): ``python -m threadpty.web._watchdog SERVER_ID [URL [CERT_DIR]]``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import List, Optional, Sequence

log = logging.getLogger("threadpty.web")


def spawn(server_id: str, url: Optional[str], cert_dir: Optional[str]) -> "subprocess.Popen[bytes]":
    """Start the watchdog of this server; closing its stdin (or our death) sets it off."""
    argv: List[str] = [sys.executable, "-m", "threadpty.web._watchdog", server_id]
    if url is not None:
        argv.append(url)
        if cert_dir is not None:
            argv.append(cert_dir)
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        # Its own session: a Ctrl-C or SIGTERM sent to the server's process group must not end
        # it before the server's end does.
        start_new_session=True,
    )


def main(argv: Sequence[str]) -> int:
    if not 1 <= len(argv) <= 3:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="threadpty web watchdog: %(message)s")
    server_id = argv[0]
    url = argv[1] if len(argv) > 1 else None
    cert_dir = argv[2] if len(argv) > 2 else None
    while os.read(0, 4096):
        pass  # nothing is ever written: this waits for the server's end
    from ._engines import make_client
    from ._owner import RUN_LABEL

    try:
        client = make_client(url, cert_dir)
        for c in client.containers(all=True, filters={"label": f"{RUN_LABEL}={server_id}"}):
            client.remove_container(c["Id"], force=True)
    except Exception as exc:  # noqa: BLE001 - nobody else is left to tell
        log.warning("could not remove the --run containers of server %s: %s", server_id, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
