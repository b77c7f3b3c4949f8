"""Figure 8: start-up, whole processes: ``import docker`` with and without ``import threadpty``, and
a program that runs one empty session, per peer (``bench/startup.py`` is that program).
"""

from __future__ import annotations

import os
import subprocess
import sys

from rig import HERE, ROOT, Rig, log, ms
from stats import median, rotated


def run(rig: Rig) -> None:
    """``import docker`` with and without ``import threadpty``, and a whole program that runs
    an empty ``exec true`` session, per peer; see ``bench/startup.py``."""
    # An installed package has its bytecode (pip compiles it); an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would compile threadpty's source in every process instead.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "threadpty")], check=True
    )
    store = rig.samples.setdefault("startup", {})
    peers = ["docker", "import", "raw", "threadpty", "dockerpty"]
    reps = 2 if rig.quick else 4
    script = os.path.join(HERE, "startup.py")
    for r in range(rig.rounds):
        for i in range(reps):
            for peer in rotated(peers, r * reps + i):
                argv = [sys.executable, script, peer, rig.api_version, rig.box]
                got = rig.cli_peer(argv, timeout=60)
                ok = got["status"] == 0 and got["n"] == 0 and not got["timed_out"]
                e = {"wall": got["wall"], "cpu": got["cpu"], "ok": ok, "round": r}
                store.setdefault(peer, []).append(e)
                if not ok:
                    rig.failures.append(
                        f"startup {peer} round {r + 1}: {got.get('error', '')[-200:]}"
                    )
        log(
            f"round {r + 1}/{rig.rounds} startup: "
            + ", ".join(
                f"{p} {ms(median([e['wall'] for e in store[p] if e['round'] == r]))} ms"
                for p in peers
            )
        )
