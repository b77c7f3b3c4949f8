"""setuptools reads setup.cfg; this only adds one build step: xterm.js for `threadpty web`.

The front-end files come from npm at build time (pinned by package-lock.json) and are copied into
threadpty/web/static/ so that a wheel carries them; they are never in the repository.
"""

import os
import runpy

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithWebAssets(build_py):
    def run(self) -> None:
        script = os.path.join(HERE, "scripts", "web_assets.py")
        if os.path.exists(script) and os.path.exists(os.path.join(HERE, "package-lock.json")):
            assets = runpy.run_path(script)
            if not assets["present"]():
                assets["build"]()
        super().run()


setup(cmdclass={"build_py": BuildWithWebAssets})
