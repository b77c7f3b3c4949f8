"""docs/design.rst names every lock, condition, event and thread of the package.

The concurrency design is only useful while it is complete: a lock added without a line on the
design page (what it guards, where it stands in the order) fails here. The package is read with
``ast``, not imported, so a lock made in any module, compatibility layer and web server included,
is found; and every name the page's list gives must still exist, so the page cannot keep a lock
that has gone.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from typing import Dict, List, Optional, Set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "threadpty")
DESIGN = os.path.join(ROOT, "docs", "design.rst")

# The synchronisation primitives of ``threading`` (a Timer is a thread: it is found by name).
PRIMITIVES = {"Lock", "RLock", "Condition", "Event", "Semaphore", "BoundedSemaphore", "Barrier"}


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, PACKAGE)[: -len(".py")]
    return rel.replace(os.sep, ".")


def _primitive(node: ast.expr) -> Optional[str]:
    """``threading.Lock()`` (or ``Lock()`` imported from threading) -> "Lock"."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id == "threading" and func.attr in PRIMITIVES:
            return func.attr
    if isinstance(func, ast.Name) and func.id in PRIMITIVES:
        return func.id
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: List[str] = []
        self.classes: List[str] = []
        self.found: Dict[str, str] = {}

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def _record(self, target: ast.expr, kind: str) -> None:
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            # self.x = threading.Lock() inside a method: the class's attribute.
            owner = self.classes[-1] if self.classes else target.value.id
            self.found[f"{self.module}.{owner}.{target.attr}"] = kind
        elif isinstance(target, ast.Name):
            where = ".".join([self.module, *self.scope, target.id])
            self.found[where] = kind

    def visit_Assign(self, node: ast.Assign) -> None:
        kind = _primitive(node.value)
        if kind is not None:
            for target in node.targets:
                self._record(target, kind)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        kind = _primitive(node.value) if node.value is not None else None
        if kind is not None:
            self._record(node.target, kind)
        self.generic_visit(node)


def _sources() -> List[str]:
    out: List[str] = []
    for folder, _dirs, files in os.walk(PACKAGE):
        out.extend(os.path.join(folder, f) for f in files if f.endswith(".py"))
    return sorted(out)


@functools.cache
def _parsed(path: str) -> ast.Module:
    """Each source is parsed once a run: several tests walk the whole package (only read)."""
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def primitives() -> Dict[str, str]:
    """Every lock, condition and event the package makes: ``module.Class.attr`` -> its kind."""
    found: Dict[str, str] = {}
    for path in _sources():
        scanner = _Scanner(_module_name(path))
        scanner.visit(_parsed(path))
        found.update(scanner.found)
    return found


def thread_names() -> Set[str]:
    """The fixed start of every thread name the package gives (``threadpty-output-`` ...)."""
    names: Set[str] = set()
    for path in _sources():
        for node in ast.walk(_parsed(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                text = first.value
            else:
                continue
            if re.fullmatch(r"threadpty-[a-z-]*", text):
                names.add(text)
    return names


def page() -> str:
    with open(DESIGN, encoding="utf-8") as f:
        return f.read()


def listed() -> Set[str]:
    """The names the page's list of primitives gives, one ````name```` per entry."""
    text = page()
    start = text.index("Locks, conditions and events\n")
    end = text.index("\nThe order of locks\n", start)
    return set(re.findall(r"^``([\w.]+)``", text[start:end], re.M))


def test_the_scan_finds_the_known_ones() -> None:
    found = primitives()
    # A scan that found nothing would pass everything below.
    assert found["_lifecycle.Lifecycle.lock"] == "Lock"
    assert found["_pump.ConnectionReader._cond"] == "Condition"
    assert found["tty._owners_lock"] == "Lock"
    assert found["web._bridge.WebSession._flowing"] == "Event"
    assert found["_signals._Dispatcher._lock"] == "RLock"
    assert len(found) >= 16


def test_every_lock_condition_and_event_is_on_the_design_page() -> None:
    missing = sorted(set(primitives()) - listed())
    assert not missing, f"docs/design.rst does not describe {missing}"


def test_the_page_lists_only_what_exists() -> None:
    stale = sorted(listed() - set(primitives()))
    assert not stale, f"docs/design.rst describes {stale}, which the package no longer has"


def test_every_thread_name_is_on_the_design_page() -> None:
    names = thread_names()
    assert {"threadpty-output-", "threadpty-input-", "threadpty-winch"} <= names
    text = page()
    missing = sorted(n for n in names if f"``{n}" not in text)
    assert not missing, f"docs/design.rst does not name the threads {missing}"


def test_the_scan_sees_a_new_lock() -> None:
    scanner = _Scanner("example")
    scanner.visit(
        ast.parse(
            "import threading\n"
            "class Thing:\n"
            "    def __init__(self):\n"
            "        self._gate: threading.Lock = threading.Lock()\n"
            "        self.ready = threading.Event()\n"
            "_table_lock = threading.RLock()\n"
        )
    )
    assert scanner.found == {
        "example.Thing._gate": "Lock",
        "example.Thing.ready": "Event",
        "example._table_lock": "RLock",
    }
