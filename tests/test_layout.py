"""The package layout of DESIGN.md: the engine imports nothing of streamliq outside itself, and
nothing but the command line imports `streamliq.commands`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streamliq

PACKAGE = Path(streamliq.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the streamliq modules `path` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "streamliq" or name.startswith("streamliq.")}


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", [p for p in MODULES if "engine" in p.relative_to(PACKAGE).parts[:1]],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_imports_only_itself(path):
    outside = {name for name in _imports(path) if not name.startswith("streamliq.engine")}
    assert not outside, f"{path.relative_to(PACKAGE)} imports {sorted(outside)}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.relative_to(PACKAGE).parts[0] not in ("commands", "cli.py")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_below_the_command_line_imports_it(path):
    upward = {name for name in _imports(path) if name.startswith(("streamliq.commands", "streamliq.cli"))}
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


def test_the_import_scan_sees_relative_imports():
    found = _imports(PACKAGE / "engine" / "close.py")
    assert "streamliq.engine.config" in found and "streamliq.engine.features.sides" in found


def test_the_factor_reference_lives_in_the_repository_and_names_every_column():
    """Issue 12.7: a user's clone has no ../shared/FACTORS.md; docs/factors.md describes every column."""
    from streamliq.engine.config import FactorConfig

    root = PACKAGE.parent
    reference = (root / "docs" / "factors.md").read_text(encoding="utf-8")
    columns = FactorConfig.build(metrics=True).columns()
    missing = [c for c in columns if f"`{c}`" not in reference and f"`{c}," not in reference]
    assert not missing, f"docs/factors.md does not describe {missing}"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "](docs/factors.md)" in readme
    assert "../shared/" not in readme.replace("../shared/realdata", "")  # links a clone cannot follow
