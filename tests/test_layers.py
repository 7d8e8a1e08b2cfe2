"""The package graph points one way: contracts and reports import nothing of ours, the model (phi3v) stands on
contracts alone, the three commands are siblings on contracts (finetune and evaluation also on the model;
evaluation never reaches into training code), and no product code imports a CLI module, a benchmark or a
test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "contracts",
    "phi3v",
    "datagen",
    "finetune",
    "evaluation",
    "reports",
    "study",
    "benchmarks",
    "tests",
)
ALLOWED = {
    "contracts": set(),
    "reports": set(),
    "datagen": {"contracts", "reports"},
    "phi3v": {"contracts"},
    "finetune": {"contracts", "phi3v"},
    "evaluation": {"contracts", "phi3v", "reports"},
    "study": {"contracts", "datagen", "finetune", "evaluation", "reports"},  # a study runs the others
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_downward(package):
    """Every import of another package of ours is one the layering allows."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PACKAGES and top != package:
                found.setdefault(top, path.relative_to(ROOT))
    assert set(found) <= ALLOWED[package], f"{package} imports {found}"


def test_no_product_module_imports_a_cli_module():
    """CLI modules are the edge: library code never reaches up into one."""
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "cli.py":
                continue
            cli = [n for n in _imports(path) if n.endswith(".cli")]
            assert not cli, f"{path.relative_to(ROOT)} imports {cli}"
