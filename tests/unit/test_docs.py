"""The documentation site's promises that need no Sphinx to check (``make docs`` builds it).

- Every example the site shows is one of README.rst's, which tests/engine/test_readme.py runs: pages
  include README's sections between ``.. docs: NAME begins``/``ends`` markers and write no Python
  example of their own, so no example on the site goes untested.
- Every marker a page includes exists, once, in order.
- Every public name has a docstring (the API reference is made from them), and so does each of
  its public methods and properties.
"""

from __future__ import annotations

import glob
import inspect
import os
import re
from typing import Any, Iterator, List, Tuple

import pytest

import threadpty
import threadpty.web

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
README = os.path.join(ROOT, "README.rst")


def pages() -> List[str]:
    found = sorted(glob.glob(os.path.join(DOCS, "*.rst")))
    assert len(found) >= 10
    return found


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def includes(text: str) -> Iterator[Tuple[str, str, str]]:
    """``(file, start-after, end-before)`` of every ``.. include::`` in a page."""
    pattern = (
        r"^\.\. include:: (\S+)\n"
        r"(?:   :start-after: (.*)\n)?"
        r"(?:   :end-before: (.*)\n)?"
    )
    for match in re.finditer(pattern, text, re.M):
        yield match.group(1), match.group(2) or "", match.group(3) or ""


@pytest.mark.parametrize("page", pages(), ids=os.path.basename)
def test_pages_write_no_python_example_of_their_own(page: str) -> None:
    text = read(page)
    for bad in (".. code-block:: python", ".. code:: python", ".. doctest::", ">>> "):
        assert bad not in text, f"{os.path.basename(page)}: include README's example instead"
    # A literal block after "::" is an example in disguise unless it is a diagram or a table.
    for match in re.finditer(r"::\n\n((?:    .*\n|\n)+)", text):
        assert not re.search(r"^\s*(import|from \w+ import)\b", match.group(1), re.M)


def test_every_included_section_exists_once_and_in_order() -> None:
    readme = read(README)
    seen = 0
    for page in pages():
        for name, start, end in includes(read(page)):
            if name != "../README.rst":
                continue
            seen += 1
            assert start and end, f"{page}: include a marked section, not the whole README"
            assert readme.count(start + "\n") == 1, f"{start!r} is not in README.rst once"
            assert readme.count(end + "\n") == 1, f"{end!r} is not in README.rst once"
            assert readme.index(start) < readme.index(end)
            assert start.endswith(" begins") and end == start[: -len("begins")] + "ends"
    assert seen >= 10


def test_readme_python_examples_are_on_the_site() -> None:
    """The sections the site includes hold every Python example README has."""
    readme = read(README)
    shown = "".join(
        readme[readme.index(start) : readme.index(end)]
        for page in pages()
        for name, start, end in includes(read(page))
        if name == "../README.rst"
    )
    examples = re.findall(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", readme, re.M)
    assert len(examples) >= 5
    for example in examples:
        assert example in shown


def public_objects() -> Iterator[Tuple[str, Any]]:
    for module, names in ((threadpty, threadpty.__all__), (threadpty.web, threadpty.web.__all__)):
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # PIPE, STDOUT: documented on the API page itself
            yield f"{module.__name__}.{name}", obj
            if not inspect.isclass(obj):
                continue
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else value
                func = getattr(func, "__func__", func)
                if inspect.isfunction(func):
                    yield f"{module.__name__}.{name}.{attr}", func


def test_every_public_name_has_a_docstring() -> None:
    missing = [name for name, obj in public_objects() if not (obj.__doc__ or "").strip()]
    assert not missing, f"no docstring (the API reference is made from them): {missing}"


def test_the_docstring_check_sees_methods() -> None:
    names = {name for name, _ in public_objects()}
    assert {"threadpty.Session.join", "threadpty.Session.running", "threadpty.Target.resize"} <= (
        names
    )
    assert "threadpty.web.WebServer.shutdown" in names
