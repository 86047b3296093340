"""How a Python app starts: Django (manage.py), a FastAPI or Flask app object, any ASGI `app`
served by uvicorn (FastHTML and other uvicorn-only apps), a `[project.scripts]` entry point (uv
packaged apps), else the main file run with python."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.buildplan.providers.python.requirements import canonical
from chalicelib.domain.buildplan.reader import Reader, table

# The files an app's entry point is looked for in, in order (Railway's builder's list).
MAIN_FILES = ("main.py", "app.py", "start.py", "bot.py", "hello.py", "server.py")
# The files a framework's app object is looked for in.
_APP_FILES = ("main.py", "app.py")
LOOKED_FOR = (
    "manage.py, a Flask, FastAPI or uvicorn app in main.py/app.py, [project.scripts] in "
    f"pyproject.toml, {', '.join(MAIN_FILES)}"
)
# module:attribute[.attribute] as entry points are written; anything else is not started.
_ENTRY_POINT = re.compile(
    r"^\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*:\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*$"
)


@dataclass(frozen=True)
class Start:
    """The default start command ("" when none), the server packages the install must add, a
    directory to put on the import path at run time, and a note on a choice made."""

    command: str = ""
    extra: tuple[str, ...] = ()
    import_dir: str | None = None
    note: str = ""


def python_start(reader: Reader, names: set[str], project: dict[str, Any]) -> Start:
    if reader.exists("manage.py"):
        package = _django_project(reader)
        if package is not None:
            return Start(
                "python3 manage.py migrate --noinput && "
                f"python3 -m gunicorn {package}.wsgi --bind 0.0.0.0:$PORT",
                () if "gunicorn" in names else ("gunicorn",),
            )
    for framework, constructor, server in (
        ("fastapi", r"(?:\w+\.)?FastAPI\(", "uvicorn"),
        ("flask", r"(?:\w+\.)?Flask\(", "gunicorn"),
        # Any ASGI app bound to a top-level name when uvicorn is installed (FastHTML's
        # `app, rt = fast_app()`, Starlette, Quart ...): uvicorn serves it.
        ("uvicorn", None, "uvicorn"),
    ):
        if framework not in names:
            continue
        for entry in _APP_FILES:
            target = _app_object(reader.peek(entry) or "", constructor)
            if target is None:
                continue
            reader.mark(entry)
            module = entry.removesuffix(".py")
            extra = () if server in names else (server,)
            if server == "uvicorn":
                return Start(f"python3 -m uvicorn {module}:{target} --host 0.0.0.0 --port $PORT", extra)
            return Start(f"python3 -m gunicorn {module}:{target} --bind 0.0.0.0:$PORT", extra)
    scripted = _project_script(reader, project)
    if scripted is not None:
        return scripted
    main_file = reader.first(*MAIN_FILES)
    return Start(f"python3 {main_file}") if main_file is not None else Start()


def _app_object(text: str, constructor: str | None) -> str | None:
    """The top-level name bound to the app: `name = FastAPI(` for a framework, and for uvicorn
    alone a top-level `app` (`app = ...` or `app, rt = ...`)."""
    if constructor is not None:
        match = re.search(rf"^(\w+)\s*=\s*{constructor}", text, re.M)
        return match.group(1) if match else None
    return "app" if re.search(r"^app\s*(?:,\s*\w+\s*)*(?::[^=\n]+)?=", text, re.M) else None


def _project_script(reader: Reader, project: dict[str, Any]) -> Start | None:
    """A `[project.scripts]` entry point run with python (no console script needed): the one
    named like the project, else the first. A src/ layout package goes on the import path."""
    scripts = {k: v for k, v in table(project, "scripts").items() if isinstance(v, str)}
    if not scripts:
        return None
    project_name = canonical(str(project.get("name") or ""))
    name = next((n for n in scripts if canonical(n) == project_name), next(iter(scripts)))
    match = _ENTRY_POINT.match(scripts[name].split("[", 1)[0])
    if match is None:
        return None
    module, attribute = match.groups()
    top, _, _ = attribute.partition(".")
    code = f"import sys; from {module} import {top}; sys.exit({attribute}())"
    package = module.split(".")[0]
    import_dir = None
    if not _is_package(reader, package) and _is_package(reader, f"src/{package}"):
        import_dir = "src"
    note = f"python: [project.scripts] {', '.join(scripts)}; starting {name} ({scripts[name]})"
    return Start(f"python3 -c {shlex.quote(code)}", import_dir=import_dir, note=note)


def _is_package(reader: Reader, path: str) -> bool:
    return reader.tree.exists(f"{path}/__init__.py") or reader.tree.exists(f"{path}.py")


def _django_project(reader: Reader) -> str | None:
    """The package holding wsgi.py: from manage.py's DJANGO_SETTINGS_MODULE, else the first
    top-level directory with a wsgi.py."""
    settings = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)['\"]", reader.read("manage.py"))
    if settings is not None:
        package = settings.group(1).split(".")[0]
        if reader.exists(f"{package}/wsgi.py"):
            return package
    for directory in reader.subdirs("."):
        # The name goes into `gunicorn <name>.wsgi`: only an importable package name can be meant.
        if directory.isidentifier() and reader.exists(f"{directory}/wsgi.py"):
            return directory
    return settings.group(1).split(".")[0] if settings is not None else None
