"""Every command a message suggests exists: each `railyard <words>` in a string of chalicelib/,
railyard/ or functions/ (error messages, hints, "Next:" lines; docstrings and comments aside) must
name a real command of the CLI, so a suggestion cannot drift from the commands again (issue 12
found "nothing to build" pointing at a `railyard service settings` that did not exist)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import typer

from railyard.cli import app

ROOT = Path(__file__).resolve().parents[2]
# "railyard" then words; not a path or a module (railyard/cli.py, railyard.cli) and not a log
# prefix ("railyard dev: stopping"), which names the process, not a command to run.
SUGGESTION = re.compile(r"(?<![\w./-])railyard((?: [a-z][a-z-]*)+)(?![\w:-])")


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def suggestions() -> list[tuple[str, str]]:
    found = []
    for folder in ("chalicelib", "railyard", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _strings(path):
                for match in SUGGESTION.finditer(text):
                    found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1).split()))
    return found  # type: ignore[return-value]


def command_problem(words: list[str]) -> str | None:
    """None when `railyard <words...>` starts with a real command (what follows a leaf command are
    its arguments); else what is wrong."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if not hasattr(command, "list_commands"):
            return None  # a leaf: the rest are its arguments
        sub = command.get_command(None, word)
        if sub is None:
            known = ", ".join(command.list_commands(None))
            return f"`railyard {' '.join([*path, word])}`: no such command (there are: {known})"
        command, path = sub, [*path, word]
    if hasattr(command, "list_commands") and not getattr(command, "invoke_without_command", False):
        return f"`railyard {' '.join(path)}` needs a subcommand"
    return None


def test_every_suggested_command_exists() -> None:
    found = suggestions()
    assert len(found) > 50, "the scan found almost no suggestions: is the pattern broken?"
    problems = [f"{where}: {problem}" for where, words in found if (problem := command_problem(words))]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_command_that_does_not_exist() -> None:
    assert command_problem(["service", "settings"]) is None
    assert command_problem(["environment", "use", "staging"]) is None
    assert command_problem(["variables"]) is None  # lists them
    assert command_problem(["service", "setting"]) is not None
    assert command_problem(["deploy"]) is not None
    assert command_problem(["environment"]) is not None  # a group without its subcommand
