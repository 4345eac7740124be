"""The folder layout is the architecture: each ring imports only from itself and the rings inside it.

core/ is torch-free and knows neither pytest nor a terminal; reports/ only render; backends/ only implement.
Every import counts, also the lazy ones inside functions, so the check reads the source rather than
sys.modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "muscle_guard"
# ring → the muscle_guard sub-packages it may import (itself included)
ALLOWED = {
    "core": {"core"},
    "reports": {"core", "reports"},
    "backends": {"core", "backends"},
    "fix": {"core", "backends", "fix"},  # the fix computes; the CLI renders what it recorded (reports/fix_tables.py)
    "testing": {"core", "backends", "testing"},
    "pytest_plugin": {"core", "backends", "reports", "pytest_plugin"},
    "importers": {"core", "importers"},
    "cli": {"core", "backends", "reports", "fix", "importers", "cli"},
}
# third-party packages a ring must not touch, lazily or not
FORBIDDEN = {
    "core": {"torch", "transformers", "peft", "accelerate", "safetensors", "pytest", "_pytest", "rich", "typer"},
    "reports": {"torch", "transformers", "peft", "accelerate", "pytest", "_pytest", "typer"},
    "backends": {"pytest", "_pytest", "typer"},
    "importers": {"torch", "transformers", "peft", "pytest", "_pytest", "rich", "typer"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in `path`; relative imports are resolved against the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            if node.module == "muscle_guard":
                found.extend((node.lineno, f"muscle_guard.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
    return found


def modules(ring: str) -> list[Path]:
    return sorted((PACKAGE / ring).rglob("*.py"))


@pytest.mark.parametrize("ring", sorted(ALLOWED))
def test_a_ring_imports_only_inward(ring: str) -> None:
    wrong = []
    for path in modules(ring):
        for line, module in imports_of(path):
            parts = module.split(".")
            if parts[0] == "muscle_guard" and len(parts) > 1 and parts[1] != "__version__":
                if parts[1] not in ALLOWED[ring]:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
            elif parts[0] in FORBIDDEN.get(ring, set()):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_of_a_ring_import_each_other() -> None:
    # A cycle (fix/run.py ↔ fix/search.py once) means a record sits in the wrong module: move it down.
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        edges[name] = {m for _, m in imports_of(path) if m.startswith("muscle_guard.")}
    cycles = sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert cycles == []


def test_the_top_level_holds_only_the_rings() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)
