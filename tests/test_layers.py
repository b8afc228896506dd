"""The package layout is the architecture: no module imports from a layer above its own."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import transit_status

SOURCE = Path(transit_status.__file__).parent

# Bottom first. A module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("config", "errors", "wallclock", "schemas")),
    ("Kafka building blocks and reference data", ("topics", "dead_letters", "avro", "networks")),
    ("simulation", ("simulation",)),
    (
        "processes",
        ("producers", "feeds", "streams", "dashboard", "london", "platform.schema_registry", "platform.rest_proxy"),
    ),
    ("platform services and supervisor", ("platform",)),
    ("pipeline", ("pipeline",)),
    ("entry points", ("serve", "cli", "__main__")),
]


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest package prefix that names ``module``."""
    relative = module.removeprefix("transit_status").lstrip(".")
    best, best_length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = relative == prefix or relative.startswith(prefix + ".")
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("transit_status.")}


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = module_name(path)
        if module == "transit_status":
            continue
        own = layer_of(module)
        for imported in imported_modules(path):
            if layer_of(imported) > own:
                upward.append(f"{module} ({LAYERS[own][0]}) imports {imported} ({LAYERS[layer_of(imported)][0]})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import() -> None:
    assert layer_of("transit_status.pipeline.services") > layer_of("transit_status.platform.supervisor")
    assert layer_of("transit_status.platform.schema_registry.store") < layer_of("transit_status.platform.service")
    assert layer_of("transit_status.cli") == len(LAYERS) - 1


def test_every_module_imports() -> None:
    """Most services import their modules only when they start: a broken import must fail here, not
    in a service's log."""
    for module in pkgutil.walk_packages(transit_status.__path__, "transit_status."):
        if not module.name.endswith("__main__"):  # it runs the CLI
            importlib.import_module(module.name)
