"""The dashboard's shape: every module imports, nothing imports in a circle, and each network's
subpackage (``cta/``, ``london/``) stands on the shared modules at the top, never on the other network.

Every import counts, wherever it is written: at the top, under ``TYPE_CHECKING`` or inside a function
(an import moved into a function still ties the two modules together)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Mapping
from pathlib import Path

import transit_status.dashboard as dashboard

PACKAGE = dashboard.__name__
NETWORKS = (f"{PACKAGE}.cta", f"{PACKAGE}.london")


def dashboard_modules() -> dict[str, Path]:
    """Every module of the dashboard package (subpackages included), by name, with its source file."""
    modules = {PACKAGE: Path(dashboard.__file__)}
    for info in pkgutil.walk_packages(dashboard.__path__, f"{PACKAGE}."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        modules[info.name] = Path(spec.origin)
    return modules


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The dashboard modules ``module`` imports (``from package import module`` names the module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package, up level - 1 packages
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = dashboard_modules()
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that ends where it starts) per strongly connected group, if any."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    unique: dict[frozenset[str], list[str]] = {}
    for cycle in found:
        unique.setdefault(frozenset(cycle), cycle)
    return list(unique.values())


def test_every_dashboard_module_imports() -> None:
    for module in dashboard_modules():
        importlib.import_module(module)


def test_no_dashboard_module_imports_in_a_circle() -> None:
    circles = [" -> ".join(cycle) for cycle in cycles(import_graph())]
    assert circles == [], "import cycles in the dashboard:\n" + "\n".join(circles)


def test_a_network_never_imports_the_other() -> None:
    crossing = [
        f"{module} imports {imported}"
        for module, imported_modules in import_graph().items()
        for imported in sorted(imported_modules)
        for own, other in (NETWORKS, NETWORKS[::-1])
        if module.startswith(own + ".") and (imported == other or imported.startswith(other + "."))
    ]
    assert crossing == [], "one network's subpackage imports the other's:\n" + "\n".join(crossing)


def test_the_cycle_check_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


# The composition root: it assembles the networks' pages into one app, so it alone may name them.
ASSEMBLY = (PACKAGE, f"{PACKAGE}.app")


def shared_modules() -> list[str]:
    """The modules at the top of the package that every network stands on (hub, consumer, health, ...)."""
    return [
        module
        for module in dashboard_modules()
        if module.count(".") == PACKAGE.count(".") + 1 and module not in ASSEMBLY and module not in NETWORKS
    ]


def network_imports(graph: Mapping[str, set[str]], modules: list[str]) -> list[str]:
    return [
        f"{module} imports {imported}"
        for module in modules
        for imported in sorted(graph.get(module, ()))
        if any(imported == network or imported.startswith(network + ".") for network in NETWORKS)
    ]


def test_the_shared_modules_import_neither_network() -> None:
    shared = shared_modules()
    assert {f"{PACKAGE}.{name}" for name in ("consumer", "health", "contracts", "hub", "state")} <= set(shared)
    crossing = network_imports(import_graph(), shared)
    assert crossing == [], "a shared dashboard module depends on a network:\n" + "\n".join(crossing)


def test_the_shared_check_sees_a_network_import() -> None:
    health = f"{PACKAGE}.health"
    graph = {health: {f"{PACKAGE}.cta.state", f"{PACKAGE}.state"}}
    assert network_imports(graph, [health]) == [f"{health} imports {PACKAGE}.cta.state"]
