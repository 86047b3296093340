"""mypy follows only the aws_cdk modules the code imports (pyproject.toml: analyzing all ~300 of
them was most of a cold `make typecheck`); a module imported but not listed would be checked as Any
without anyone noticing, so this fails naming it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("chalicelib", "functions", "railyard", "stacks", "tools")  # the Makefile's typecheck


def _followed() -> set[str]:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    return {
        module
        for override in settings
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }


def _imported() -> set[str]:
    found: set[str] = set()
    files = [ROOT / "app.py", *(path for part in CHECKED for path in (ROOT / part).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                if node.module == "aws_cdk":  # from aws_cdk import aws_s3 as s3
                    services = (alias.name for alias in node.names if alias.name.startswith("aws_"))
                    found.update(f"aws_cdk.{name}" for name in services)
    return {name for name in found if name == "aws_cdk" or name.startswith("aws_cdk.")}


def test_every_aws_cdk_module_the_code_imports_is_type_checked() -> None:
    missing = _imported() - _followed()
    assert not missing, f"add to pyproject.toml's follow_imports = 'normal' list: {sorted(missing)}"
