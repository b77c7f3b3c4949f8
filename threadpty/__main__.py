"""``python -m threadpty``: the ``threadpty`` command, which lives in :mod:`threadpty.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
