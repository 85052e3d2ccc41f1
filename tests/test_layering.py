"""The package imports in layer order, without cycles (issue 19).

Every module of flagkit/ is parsed (not imported) and EVERY import is collected: module level,
inside functions, under ``if TYPE_CHECKING:``, relative ones resolved. Each module belongs to a
layer; a module may import from its own layer or a layer below it, never above, and no two
modules may import each other through any chain (a cycle), whatever their layers.

Layers, highest first (``|`` joins the parts of one layer)::

    cli | __main__
    integrations
    flagkit (the package's __init__: the public facade that re-exports)
    testing | _default
    codepaths
    _client
    _tools
    _observe
    providers
    flagset | bootstrap
    _engine
    document
    errors | evaluation | bucketing | _workers | _context | jsonsafe | _links | _exports | _files | _generated

ISSUE19.md writes the top as ``cli | integrations``; here the CLI is above the integrations, so
that a web process never loads the CLI (argparse and 21 modules) through an integration: what both
need (explain, lint, check, value parsing) lives in ``_tools``. The one integration that *is* the
CLI, Django's ``manage.py flagkit`` command, is in the CLI's layer (``MODULE_LAYERS``).

``bootstrap`` (the browser payload, built from compiled flags for ``Flags.bootstrap``) reads
compiled flags and is read by the client, so it sits with ``flagset``. A module under a new
top-level name fails the test until it is given a layer here.

The edge of ``from package import name`` goes to ``package.name`` when that is a module of
flagkit, else to ``package``. Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``;
those implicit edges are not counted (every module would otherwise cycle through
``flagkit/__init__``, which re-exports everything).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import flagkit

ROOT = Path(flagkit.__file__).resolve().parent

LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(part.strip() for part in line.split("|"))
    for line in (
        "cli | __main__",
        "integrations",
        "flagkit",
        "testing | _default",
        "codepaths",
        "_client",
        "_tools",
        "_observe",
        "providers",
        "flagset | bootstrap",
        "_engine",
        "document",
        "errors | evaluation | bucketing | _workers | _context | jsonsafe | _links | _exports | _files"
        " | _generated",
    )
)
"""Highest layer first. ``flagkit`` is the package itself (its ``__init__``)."""

MODULE_LAYERS: dict[str, str] = {
    # `python manage.py flagkit ...` runs the CLI inside Django: it is the CLI, not a web integration.
    "flagkit.integrations.django.management.commands.flagkit": "cli",
}
"""Modules whose layer is not that of their top-level name: module -> a name in ``LAYERS``."""


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    file: str
    """Path from the directory that holds the package, as a failure names it."""
    line: int

    @property
    def edge(self) -> str:
        return f"{self.importer} -> {self.imported}"

    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.edge}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect_modules(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute module a (possibly relative) ``from``/``import`` statement names."""
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def imports_of(name: str, path: Path, modules: dict[str, Path], package: str) -> Iterator[Import]:
    """Every import of a flagkit module in ``path``, wherever it stands in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    file = path.relative_to(modules[package].parent.parent).as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    yield Import(name, _nearest_module(alias.name, modules), file, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, is_package, node.module, node.level)
            if not (target == package or target.startswith(package + ".")):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield Import(
                    name,
                    submodule if submodule in modules else _nearest_module(target, modules),
                    file,
                    node.lineno,
                )


def _nearest_module(dotted: str, modules: dict[str, Path]) -> str:
    while dotted not in modules and "." in dotted:
        dotted = dotted.rsplit(".", 1)[0]
    return dotted


def layer_of(module: str, package: str = "flagkit") -> int | None:
    """Index in ``LAYERS`` (0 is the highest) of a module, ``None`` if its top name has no layer."""
    top = package if module == package else MODULE_LAYERS.get(module, module.split(".")[1])
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    return None


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every strongly connected component of more than one module
    (or of one module that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return found


def violations(root: Path, package: str = "flagkit") -> tuple[list[Import], list[str]]:
    """(imports against the order or inside a cycle, modules without a layer)."""
    modules = collect_modules(root)
    found = list(
        dict.fromkeys(
            imp for name, path in modules.items() for imp in imports_of(name, path, modules, package)
        )
    )
    unlayered = sorted(name for name in modules if layer_of(name, package) is None)
    bad: list[Import] = []
    for imp in found:
        mine, theirs = layer_of(imp.importer, package), layer_of(imp.imported, package)
        if mine is not None and theirs is not None and theirs < mine:
            bad.append(imp)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in found:
        if imp.imported in modules:
            graph[imp.importer].add(imp.imported)
    for component in strongly_connected(graph):
        members = set(component)
        bad.extend(
            imp for imp in found if imp.importer in members and imp.imported in members and imp not in bad
        )
    return bad, unlayered


def _report(bad: list[Import]) -> str:
    return "\n".join(imp.where() for imp in sorted(bad, key=lambda imp: (imp.file, imp.line)))


def test_every_module_has_a_layer() -> None:
    _, unlayered = violations(ROOT)
    assert unlayered == [], f"give these a layer in tests/test_layering.py LAYERS: {unlayered}"


def test_imports_follow_the_layer_order_without_cycles() -> None:
    bad, _ = violations(ROOT)
    assert bad == [], "imports against the layer order or in a cycle:\n" + _report(bad)


# The checker itself, on small packages written for the purpose: it must see each kind of import.


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "flagkit"
    for relative, text in {"__init__.py": "", **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("text", "imported"),
    [
        ("from .._client.flags import Flags\n", "flagkit._client.flags"),
        ("import flagkit._client.flags\n", "flagkit._client.flags"),
        ("from flagkit._client import flags\n", "flagkit._client.flags"),
        ("from flagkit import _client\n", "flagkit._client"),
        ("def f():\n    from .._client import flags\n", "flagkit._client.flags"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .._client.flags import Flags\n",
            "flagkit._client.flags",
        ),
        ("try:\n    import flagkit._client\nexcept ImportError:\n    pass\n", "flagkit._client"),
    ],
    ids=["relative", "absolute", "from-package", "from-root", "in-function", "type-checking", "in-try"],
)
def test_an_upward_import_of_any_kind_is_found(tmp_path: Path, text: str, imported: str) -> None:
    root = _package(tmp_path, {"_client/__init__.py": "", "_client/flags.py": "", "providers/base.py": text})
    bad, unlayered = violations(root)
    assert unlayered == []
    line = next(number for number, source in enumerate(text.splitlines(), 1) if "_client" in source)
    assert [(imp.edge, imp.line) for imp in bad] == [(f"flagkit.providers.base -> {imported}", line)]
    assert bad[0].where() == f"flagkit/providers/base.py:{line}: flagkit.providers.base -> {imported}"


def test_a_cycle_inside_one_layer_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {"errors.py": "from . import jsonsafe\n", "jsonsafe.py": "def f():\n    from .errors import X\n"},
    )
    bad, _ = violations(root)
    assert sorted(imp.edge for imp in bad) == [
        "flagkit.errors -> flagkit.jsonsafe",
        "flagkit.jsonsafe -> flagkit.errors",
    ]


def test_downward_imports_and_the_facade_pass(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": (
                "from ._client.flags import Flags\ndef __getattr__(name):\n    from .providers import http\n"
            ),
            "_client/__init__.py": "",
            "_client/flags.py": "from ..providers.base import P\nfrom ..errors import E\n",
            "providers/__init__.py": "from .base import P\n",
            "providers/base.py": "from ..errors import E\nimport json\n",
            "providers/http.py": "from .base import P\n",
            "errors.py": "",
            "cli/__init__.py": "from flagkit import Flags\nfrom .._client.flags import Flags\n",
        },
    )
    assert violations(root) == ([], [])


def test_a_module_without_a_layer_is_named(tmp_path: Path) -> None:
    root = _package(tmp_path, {"_novel.py": ""})
    assert violations(root)[1] == ["flagkit._novel"]
