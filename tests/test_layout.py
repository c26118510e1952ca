"""The packages import only in the directions the README's layout allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each top-level package may import of the project's own packages.
ALLOWED = {
    "schemas": {"schemas"},
    "models": {"models"},
    "operators": {"operators", "schemas", "models"},
    "services": {"services", "operators", "schemas", "models"},
    "flows": {"flows", "operators", "schemas", "models"},
}
OWN = set(ALLOWED) | {"tests", "benchmarks"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in OWN and top not in ALLOWED[package]:
                found.append(f"{module} imports {name}")
            if package == "services" and top == "services":
                own_service = module.split(".")[:2]
                if len(name.split(".")) > 1 and name.split(".")[:2] != own_service:
                    found.append(f"{module} imports another service: {name}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layout(package: str) -> None:
    assert violations(package) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from flows.settings import Settings\nimport operators.ingest.parse\n")
    assert imported_modules(module) == {"flows.settings", "operators.ingest.parse"}
