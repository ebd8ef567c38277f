"""The layers of DESIGN.md hold: domain code never imports the server, the CLI or their
frameworks, and ``import mlsteward`` stays cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlsteward

PACKAGE = Path(mlsteward.__file__).parent
FRONT_ENDS = {"server", "cli", "serving"}
FORBIDDEN_IN_DOMAIN = (
    "fastapi",
    "starlette",
    "typer",
    "uvicorn",
    "mlsteward.server",
    "mlsteward.cli",
)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _domain_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in FRONT_ENDS]


def test_the_walk_sees_the_kernel() -> None:
    names = {p.relative_to(PACKAGE).parts[0] for p in _domain_files()}
    assert {"security", "store", "errors.py", "settings.py"} <= names


@pytest.mark.parametrize("path", _domain_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_modules_do_not_import_front_ends(path: Path) -> None:
    bad = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for line, name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    ]
    assert bad == []


def test_relative_import_resolution_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself must see ``from ..server import x`` inside a domain package."""
    fake = PACKAGE / "security" / "_probe_for_boundary_test.py"
    fake.write_text("from ..server import create_app\n")
    try:
        names = [n for _, n in _imports(fake)]
    finally:
        fake.unlink()
    assert "mlsteward.server" in names


def test_import_mlsteward_is_cheap() -> None:
    code = (
        "import sys, json, mlsteward; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas','sklearn','fastapi','sqlalchemy','starlette','numpy','torch','pyspark',"
        "'typer','cryptography','alembic'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_client_attribute_is_lazy() -> None:
    code = "import sys, mlsteward; c = mlsteward.Client; print(c.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "Client", out.stderr
