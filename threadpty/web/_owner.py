"""Who made a ``--run`` container, and whether that server is gone.

Every such container carries ``io.threadpty.web=<server id>`` and ``io.threadpty.web.owner=
<host> <boot id> <pid> <start time>``: the server's host name, the kernel's boot id, its process
id and that process's start time (clock ticks since boot, from /proc). A server starting on the
same host and boot removes the containers whose owner process no longer exists, or is another
process that has taken the same pid (its start time differs). Containers of another host, or
of one this server cannot judge, are left alone: a server there may still be serving them.

Why not a heartbeat: labels cannot change after a container is created, so a heartbeat would
need a store of its own and a clock everyone agrees on; a process's identity is known at once.
"""

from __future__ import annotations

import os
import socket
from typing import Optional

RUN_LABEL = "io.threadpty.web"
OWNER_LABEL = "io.threadpty.web.owner"


def _boot_id() -> Optional[str]:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks after boot, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> Optional[str]:
    """The owner value for this process; None where it cannot be told (no /proc)."""
    boot, start = _boot_id(), _start_time(os.getpid())
    if boot is None or start is None:
        return None
    return f"{socket.gethostname()} {boot} {os.getpid()} {start}"


def is_gone(owner: str) -> bool:
    """True only when ``owner`` certainly names a process of this host that has ended."""
    parts = owner.split()
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    host, boot, pid, start = parts
    mine = _boot_id()
    if host != socket.gethostname() or mine is None:
        return False
    if boot != mine:
        return True  # the host has restarted since: every process of then has ended
    return _start_time(int(pid)) != start
