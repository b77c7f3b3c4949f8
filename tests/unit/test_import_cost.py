"""``import threadpty`` costs little over ``import docker``, the import every user pays anyway.

Figure 8 of ``make bench`` measures it; this keeps the cheap part cheap between runs: beyond what
``import docker`` has loaded, the package loads its own modules and the standard library's, and
no other distribution: ``typing_extensions``, which only the type checker needs, once came back for
one ``Protocol`` that ``typing`` has.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.timeout(60)


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
def test_the_import_loads_nothing_but_the_package_and_the_standard_library() -> None:
    code = (
        "import sys\n"
        "import docker\n"
        "before = set(sys.modules)\n"
        "import threadpty\n"
        "threadpty.Session, threadpty.PIPE, threadpty.ExecTarget\n"
        "added = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(added - {'threadpty'} - set(sys.stdlib_module_names)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
