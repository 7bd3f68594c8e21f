"""The dependency direction of the packages: formal/ -> tb/ -> rtl/ -> model/ and tb/ -> model/; model/ never imports
rtl/ or tb/, rtl/ never imports tb/ (docs/architecture.md, "Where things live"). Imports are absolute (neurophase.x.y)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# package -> the project packages it may import
ALLOWED = {"model": {"model"}, "rtl": {"model", "rtl"}, "tb": {"model", "rtl", "tb"},
           "formal": {"model", "rtl", "tb", "formal"}}


def layering_violations(package, source, filename="<source>"):
    """Imports in ``source`` (a module of ``package``) that break the dependency direction, or relative imports."""
    bad = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.level:
            bad.append(f"{filename}:{node.lineno}: relative import (write neurophase.{package}...)")
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            parts = name.split(".")
            if parts[0] in ALLOWED:
                bad.append(f"{filename}:{node.lineno}: import of top-level {name} (write neurophase.{name})")
            elif parts[0] == "neurophase" and len(parts) > 1 and parts[1] in ALLOWED:
                if parts[1] not in ALLOWED[package]:
                    bad.append(f"{filename}:{node.lineno}: {package}/ imports neurophase.{parts[1]}")
            elif parts[0] == "neurophase" and package != "neurophase":
                bad.append(f"{filename}:{node.lineno}: {package}/ imports the command-line package {name}")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_dependency_direction(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad += layering_violations(package, path.read_text(), str(path.relative_to(ROOT)))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package, source, found", [
    ("model", "from neurophase.rtl.tile_ctrl import TileReg\n", "model/ imports neurophase.rtl"),
    ("model", "def f():\n    import neurophase.tb.runner\n", "model/ imports neurophase.tb"),
    ("rtl", "from neurophase.tb.common import reset\n", "rtl/ imports neurophase.tb"),
    ("rtl", "from ..model.arith import PeripheryFormat\n", "relative import"),
    ("tb", "from model.arith import PeripheryFormat\n", "import of top-level model.arith"),
    ("model", "from neurophase.cli import main\n", "imports the command-line package"),
])
def test_a_reverse_import_is_found(package, source, found):
    (msg,) = layering_violations(package, source)
    assert found in msg


def test_forward_imports_pass():
    assert layering_violations("tb", "from neurophase.rtl.chip import ChipTop\nimport neurophase.model.arith\n") == []
