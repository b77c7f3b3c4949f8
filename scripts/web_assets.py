"""Fetch xterm.js and asciinema-player with npm (pinned by package-lock.json) and copy it into threadpty/web/static/.

Run by `make web-assets` and by the package build (setup.py's build_py), so a built package carries
the files and a checkout gets them from the build; they are never committed (static/ is ignored).
`--check` only says whether they are there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = os.path.join(ROOT, "threadpty", "web", "static")
# (what npm puts under node_modules/, the name it is served as)
FILES = [
    ("@xterm/xterm/lib/xterm.js", "xterm.js"),
    ("@xterm/xterm/css/xterm.css", "xterm.css"),
    ("@xterm/addon-fit/lib/addon-fit.js", "addon-fit.js"),
    # The player of /recordings, its one-file build (solid-js bundled in).
    ("asciinema-player/dist/bundle/asciinema-player.min.js", "asciinema-player.min.js"),
    ("asciinema-player/dist/bundle/asciinema-player.css", "asciinema-player.css"),
]
# The licences travel with the copied files (the player's build carries solid-js).
LICENCES = [
    ("@xterm/xterm/LICENSE", "LICENSE.xterm"),
    ("asciinema-player/LICENSE", "LICENSE.asciinema-player"),
    ("solid-js/LICENSE", "LICENSE.solid-js"),
]


def present() -> bool:
    return all(os.path.isfile(os.path.join(STATIC, name)) for _, name in FILES)


def build() -> None:
    modules = os.path.join(ROOT, "node_modules")
    if not all(os.path.isfile(os.path.join(modules, src)) for src, _ in FILES):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "web_assets: npm is needed to fetch xterm.js for `threadpty web` "
                "(Debian: apt-get install npm)"
            )
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ROOT, check=True
        )
    os.makedirs(STATIC, exist_ok=True)
    for src, name in FILES:
        shutil.copyfile(os.path.join(modules, src), os.path.join(STATIC, name))
    for src, name in LICENCES:
        shutil.copyfile(os.path.join(modules, src), os.path.join(STATIC, name))


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if present() else 1)
    build()
    print(f"web_assets: xterm.js and asciinema-player in {os.path.relpath(STATIC, ROOT)}", file=sys.stderr)
