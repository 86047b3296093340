"""Where a front-end build writes the files to serve: Vite's outDir, Angular's outputPath, and
Next.js's static export (`output: "export"` writes out/, or distDir when set)."""

from __future__ import annotations

import re

from chalicelib.domain.buildplan.reader import Reader

NEXT_EXPORT_DIR = "out"


def configs(tool: str) -> tuple[str, ...]:
    return tuple(f"{tool}.config.{ext}" for ext in ("ts", "js", "mjs", "mts", "cjs", "cts"))


def vite_output(reader: Reader) -> str:
    for path in reader.existing(*configs("vite")):
        match = re.search(r"\boutDir\s*:\s*['\"`]([^'\"`]+)['\"`]", reader.read(path))
        if match is not None:
            return match.group(1).removeprefix("./").rstrip("/") or "dist"
    return "dist"


def next_export_dir(reader: Reader) -> str | None:
    """The directory `next build` exports a static site to, or None when next.config does not set
    `output: "export"` (then it is a server app)."""
    for path in configs("next"):
        text = reader.peek(path)
        if text is None or not re.search(r"\boutput\s*:\s*['\"`]export['\"`]", text):
            continue
        reader.mark(path)
        dist = re.search(r"\bdistDir\s*:\s*['\"`]([^'\"`]+)['\"`]", text)
        return dist.group(1).removeprefix("./").rstrip("/") if dist else NEXT_EXPORT_DIR
    return None


def angular_output(reader: Reader) -> str:
    """Where `ng build` writes the browser files of the default (or first) project: the
    `application` builder (Angular 17+) adds a browser/ subdirectory, the older `browser` builder
    does not."""
    workspace = reader.json("angular.json")
    projects = workspace.get("projects")
    if not isinstance(projects, dict) or not projects:
        return "dist"
    name = workspace.get("defaultProject")
    if not isinstance(name, str) or name not in projects:
        name = next(iter(projects))
    build = ((projects[name] or {}).get("architect") or {}).get("build") or {}
    builder = str(build.get("builder", ""))
    output = (build.get("options") or {}).get("outputPath")
    if isinstance(output, dict):  # {"base": "dist/app", "browser": ""} form
        base = str(output.get("base") or f"dist/{name}")
        browser = output.get("browser", "browser")
        return f"{base}/{browser}".rstrip("/") if browser else base
    base = output if isinstance(output, str) else f"dist/{name}"
    base = base.removeprefix("./").rstrip("/")
    return f"{base}/browser" if builder.endswith(":application") else base
