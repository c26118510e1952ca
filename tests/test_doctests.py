"""Every example in the packages' docstrings runs, and gives what its docstring says.

Modules are found by walking the package folders (not by importing packages), so a new
module is covered as soon as it exists. A module counts as having examples when
`doctest.DocTestFinder` finds some, or when its source has a `>>>` prompt line: the second
catches examples the finder would silently miss (a docstring it does not look at), which
then fail here with zero examples attempted instead of passing unnoticed.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "operators", "models", "schemas")
# Modules with examples today; the runner must keep finding at least these.
KNOWN_WITH_EXAMPLES = {"operators.drift.detectors", "operators.drift.signals"}
# Modules not imported, with why. `__main__` modules are never imported: importing one runs
# the command (`models.build.__main__` builds the embedding model). Nothing else in the
# packages needs a service or a built model at import time.
SKIP: dict[str, str] = {}
_PROMPT = re.compile(r"^\s*>>>( |$)", re.MULTILINE)


def _module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "__pycache__" in parts or parts[-1] == "__main__":
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


MODULES = _module_names()
IMPORT_ERRORS: dict[str, str] = {}


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        IMPORT_ERRORS[name] = f"{type(exc).__name__}: {exc}"
        return None


def _examples(module: ModuleType) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


IMPORTED = {name: m for name in MODULES if name not in SKIP and (m := _import(name)) is not None}
FOUND = {name for name, module in IMPORTED.items() if _examples(module)}
PROMPTED = {
    name for name, path in MODULES.items() if _PROMPT.search(path.read_text(encoding="utf-8"))
}


@pytest.mark.parametrize("name", sorted(FOUND | PROMPTED))
def test_module_examples_run(name: str) -> None:
    if name in SKIP:
        pytest.fail(f"{name} has examples but is skipped: {SKIP[name]}")
    assert name not in IMPORT_ERRORS, f"{name} does not import: {IMPORT_ERRORS[name]}"
    report: list[str] = []
    runner = doctest.DocTestRunner(verbose=False)
    attempted = failed = 0
    for test in _examples(IMPORTED[name]):
        result = runner.run(test, out=report.append)
        attempted, failed = attempted + result.attempted, failed + result.failed
    assert attempted > 0, f"{name} has `>>>` lines but no example was found to run"
    assert failed == 0, "".join(report)


def test_the_packages_are_walked() -> None:
    assert {
        "operators.drift.detectors",
        "operators.ingest.parse",
        "schemas.message",
        "models.embedder",
        "flows.ingest",
        "operators",
    } <= set(MODULES)
    assert not any(name.endswith("__main__") for name in MODULES)
    assert set(SKIP) <= set(MODULES), "a skipped module no longer exists"


def test_every_module_imports_without_services() -> None:
    assert IMPORT_ERRORS == {}
    assert set(IMPORTED) == set(MODULES) - set(SKIP)


def test_modules_with_examples_are_found() -> None:
    assert FOUND, "no module has examples: the finder or the walk is broken"
    assert KNOWN_WITH_EXAMPLES <= FOUND
    assert PROMPTED <= FOUND, f"`>>>` lines the finder does not see: {sorted(PROMPTED - FOUND)}"
