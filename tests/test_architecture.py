"""The program's packages and their imports: one way, no circles, the settings apart.

Read from the sources (every import statement, at any depth, so a function-level import that
only hides a circle counts too): the settings package imports no other package of the program;
the packages form no circle, nor do the modules; the program never imports the lab.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM_DIRS = ("components", "offline", "tools")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, by its full dotted name."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def component_modules() -> dict[str, set[str]]:
    """Each module of `components` -> the modules of `components` it imports."""
    paths = sorted((ROOT / "components").rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {
        module_name(path): {name for name in imports(path) if name in known} - {module_name(path)}
        for path in paths
    }


def package_of(module: str) -> str:
    """`components.node.rendering` -> `node`; a module at the top -> `components`."""
    parts = module.split(".")
    is_package = len(parts) > 1 and (ROOT / "components" / parts[1]).is_dir()
    return parts[1] if is_package else "components"


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph`, as the path that closes it, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_settings_import_no_other_package_of_the_program() -> None:
    outside = {
        (module, target)
        for module, targets in component_modules().items()
        if package_of(module) == "settings"
        for target in targets
        if package_of(target) != "settings"
    }
    assert outside == set()


def test_the_modules_form_no_circle() -> None:
    assert cycle(component_modules()) is None


def test_the_packages_form_no_circle() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in component_modules().items():
        edges = packages.setdefault(package_of(module), set())
        edges |= {package_of(t) for t in targets} - {package_of(module)}
    # The modules at the top are the providers' stable paths: they only name a package's class.
    packages.pop("components", None)
    assert cycle(packages) is None


@pytest.mark.parametrize("directory", PROGRAM_DIRS)
def test_the_program_never_imports_the_lab(directory: str) -> None:
    paths = [*(ROOT / directory).rglob("*.py"), ROOT / "__main__.py"]
    importers = [p.name for p in paths if any(n.split(".")[0] == "lab" for n in imports(p))]
    assert importers == []


def test_a_circle_is_found_when_there_is_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
