"""The package keeps its layers: the core never loads the dockerpty compatibility layer, only the
modules that face the engine import the docker SDK, only ``_docker.py`` touches the SDK's private
parts, and the command (``threadpty.cli``) and the web server stay above the core.

README's module map draws the layers; nothing else would keep them. Three checks, as trio keeps its
core apart: every ``import`` statement in the package, read with ``ast`` (at any depth, so an
import inside a function counts too; ``if TYPE_CHECKING:`` blocks do not run and are skipped);
every use of a private name of the SDK's ``APIClient`` outside ``_docker.py``, read the same way;
and a fresh interpreter that imports every core module and must find no compatibility module
loaded (``threadpty/__init__.py`` loads them by name, on first use of one of their names).
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from typing import Dict, FrozenSet, Iterator, List, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "threadpty")

# dockerpty 0.4's modules, kept at their names for the code that imports them.
COMPAT = {"threadpty.io", "threadpty.pty", "threadpty.operations"}
# The command: the package, and ``python -m threadpty``. Only its router may import the web server.
COMMAND = "threadpty.cli"
# The modules that talk to the engine through the SDK (and so may import docker or requests): the
# SDK seam, the targets, the command's client and subcommands, and the web server's engines and
# container checks.
ENGINE_FACING = {
    "threadpty._docker",
    "threadpty.target",
    "threadpty.cli._engine",
    "threadpty.cli._commands",
    "threadpty.web._engines",
    "threadpty.web._server",
}
# The one module that may use the SDK's private parts (request helpers, socket timeout, ...).
SDK_SEAM = "threadpty._docker"
SDK = {"docker", "requests", "urllib3"}
# Imports that break the rules today, each with the change that removes it. Listed so that the
# rules hold for everything else; test_known_exceptions_are_still_needed makes the entry go
# when the import does.
KNOWN: Dict[Tuple[str, str], str] = {}


def modules() -> Dict[str, str]:
    out = {}
    for folder, _dirs, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def imports_of(module: str, path: str) -> Set[str]:
    """Absolute names of everything ``module`` imports (``from . import x`` gives ``pkg.x``)."""
    return set(_imports(module, path))


@functools.cache
def _imports(module: str, path: str) -> FrozenSet[str]:
    """Each source is read once a run: several tests scan the whole package."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found: Set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return frozenset(found)


def graph() -> Dict[str, Set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _command(module: str) -> bool:
    return module == "threadpty.__main__" or module.split(".")[:2] == ["threadpty", "cli"]


def _core(module: str) -> bool:
    return module not in COMPAT and not _command(module) and not module.startswith("threadpty.web")


def violations() -> List[str]:
    out = []
    for module, imported in sorted(graph().items()):
        if module not in COMPAT:
            for name in sorted(imported & COMPAT):
                out.append(f"{module} imports the compatibility module {name}")
        if not module.startswith("threadpty.web") and module != COMMAND:
            for name in sorted(n for n in imported if n.startswith("threadpty.web")):
                out.append(f"{module} (the core) imports {name}")
        if _core(module):
            for name in sorted(n for n in imported if _command(n)):
                out.append(f"{module} (the core) imports the command's {name}")
        if module not in ENGINE_FACING:
            for top in sorted({_top(n) for n in imported} & SDK):
                if (module, top) not in KNOWN:
                    out.append(f"{module} imports {top}; only engine-facing modules may")
    return out


def sdk_private_names() -> Set[str]:
    """The private names of the SDK's ``APIClient`` (request helpers, socket timeout, configs: what
    docker-py may move in any release), and ``_response``, which it hangs on a hijacked socket."""
    import docker

    # A pinned version: the client asks the engine nothing.
    client = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    try:
        names = set(dir(type(client))) | set(vars(client))
    finally:
        client.close()
    return {n for n in names if n.startswith("_") and not n.startswith("__")} | {"_response"}


_ACCESSORS = {"getattr", "hasattr", "setattr", "delattr"}


def private_uses(source: str, names: Set[str]) -> List[str]:
    """Every ``x._name`` (``x`` not ``self``/``cls``) and ``getattr(x, "_name")`` with ``_name``
    in ``names``, as ``"code (line n)"``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue  # an object's own attribute of the same name
            out.append(f"{ast.unparse(node)} (line {node.lineno})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in names
        ):
            out.append(f"{ast.unparse(node)} (line {node.lineno})")
    return out


def _source(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def sdk_seam_violations() -> List[str]:
    names = sdk_private_names()
    out = []
    for module, path in sorted(modules().items()):
        if module != SDK_SEAM:
            for use in private_uses(_source(path), names):
                out.append(f"{module}: {use}; only {SDK_SEAM} may touch the SDK's private parts")
    return out


def test_the_scan_reads_imports() -> None:
    g = graph()
    # A scan that found nothing would pass every rule.
    assert "threadpty._pipes" in g["threadpty.session"]
    assert "threadpty._docker" in g["threadpty.target"]
    assert "docker.errors" in g["threadpty.target"]  # inside a function
    assert "threadpty.io" not in g["threadpty"]  # only under TYPE_CHECKING
    assert "threadpty.web._server" in g["threadpty.web"]


def test_the_layers_hold() -> None:
    assert violations() == []


def test_known_exceptions_are_still_needed() -> None:
    g = graph()
    for (module, top), why in KNOWN.items():
        assert top in {_top(n) for n in g[module]}, f"{module} no longer imports {top}: drop it"
        assert why


def test_a_core_module_importing_compat_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = imports_of

    def with_io(module: str, path: str) -> Set[str]:
        found = real(module, path)
        return found | {"threadpty.io"} if module == "threadpty._pump" else found

    monkeypatch.setattr(sys.modules[__name__], "imports_of", with_io)
    assert violations() == ["threadpty._pump imports the compatibility module threadpty.io"]


def test_only_the_seam_touches_the_sdks_private_parts() -> None:
    assert sdk_seam_violations() == []


def test_the_private_scan_sees_the_seam() -> None:
    names = sdk_private_names()
    # A scan that found nothing would pass; the seam itself must show its uses.
    assert {"_url", "_post", "_raise_for_status", "_disable_socket_timeout"} <= names
    found = private_uses(_source(modules()[SDK_SEAM]), names)
    assert any(use.startswith("client._post (") for use in found), found
    assert any("'_response'" in use for use in found), found


def test_a_private_use_outside_the_seam_is_caught() -> None:
    names = sdk_private_names()
    source = (
        "def f(client, sock):\n"
        "    client._post(client._url('/x'))\n"
        "    return getattr(sock, '_response', None)\n"
        "class A:\n"
        "    def g(self):\n"
        "        return self._get()\n"  # its own method: not the SDK's
    )
    assert sorted(private_uses(source, names)) == [
        "client._post (line 2)",
        "client._url (line 2)",
        "getattr(sock, '_response', None) (line 3)",
    ]


@pytest.mark.parametrize(
    "imported, message",
    [
        ("threadpty.cli._commands", "threadpty._pump (the core) imports the command's {}"),
        ("threadpty.__main__", "threadpty._pump (the core) imports the command's {}"),
        ("docker.errors", "threadpty._pump imports docker; only engine-facing modules may"),
    ],
)
def test_a_core_module_reaching_up_or_into_the_sdk_is_caught(
    monkeypatch: pytest.MonkeyPatch, imported: str, message: str
) -> None:
    real = imports_of

    def with_extra(module: str, path: str) -> Set[str]:
        found = real(module, path)
        return found | {imported} if module == "threadpty._pump" else found

    monkeypatch.setattr(sys.modules[__name__], "imports_of", with_extra)
    assert violations() == [message.format(imported)]


def test_the_core_loads_no_compatibility_module() -> None:
    core = sorted(m for m in modules() if _core(m))
    above = sorted(m for m in modules() if m.startswith("threadpty.web") or _command(m))
    code = (
        "import importlib, sys\n"
        f"for name in {core + above!r}:\n"
        "    importlib.import_module(name)\n"
        "import threadpty\n"
        "threadpty.Session, threadpty.PIPE, threadpty.sigwinch\n"
        f"print(sorted(m for m in sys.modules if m in {sorted(COMPAT)!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert len(core) >= 15


def test_the_compatibility_layer_is_still_loaded_on_use() -> None:
    code = "import sys, threadpty\nthreadpty.PseudoTerminal\nprint('threadpty.pty' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.stdout.strip() == "True", proc.stderr
