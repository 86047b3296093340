"""Node frameworks: server frameworks get their production start command, single-page apps and
static exports are built and their output served as files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.buildplan.providers.node.package_managers import NodeManager
from chalicelib.domain.buildplan.providers.node.static_output import (
    angular_output,
    configs,
    next_export_dir,
    vite_output,
)
from chalicelib.domain.buildplan.reader import Reader


@dataclass(frozen=True)
class NodeFramework:
    name: str
    start: str | None = None  # for server frameworks
    static_dir: str | None = None  # for single-page apps and static exports: the output to serve
    build: str | None = None  # when package.json has no build script
    cache_dirs: tuple[str, ...] = ()


def node_framework(
    reader: Reader, dependencies: dict[str, Any], manager: NodeManager
) -> NodeFramework | None:
    # Server frameworks first: Remix and SvelteKit also depend on vite.
    run = manager.exec_prefix
    if "next" in dependencies:
        exported = next_export_dir(reader)
        if exported is not None:
            return NodeFramework(
                "next", static_dir=exported, build=f"{run}next build", cache_dirs=(".next/cache",)
            )
        return NodeFramework("next", start=f"{run}next start -p $PORT", cache_dirs=(".next/cache",))
    if "nuxt" in dependencies:
        return NodeFramework("nuxt", start="node .output/server/index.mjs")
    if any(name.startswith("@remix-run/") for name in dependencies):
        # Remix on vite emits build/server/index.js; the classic compiler, build/index.js.
        entry = "build/server/index.js" if reader.existing(*configs("vite")) else "build/index.js"
        return NodeFramework("remix", start=f"{run}remix-serve ./{entry}")
    if "@sveltejs/kit" in dependencies:
        if "@sveltejs/adapter-static" in dependencies:
            return NodeFramework("sveltekit", static_dir="build", build=f"{run}vite build")
        return NodeFramework("sveltekit", start="node build")
    if "astro" in dependencies:
        # Astro renders on a server only with an adapter; the node one is the one we can run.
        if "@astrojs/node" in dependencies:
            return NodeFramework("astro", start="node ./dist/server/entry.mjs")
        return NodeFramework("astro", static_dir="dist", build=f"{run}astro build")
    if "@angular/core" in dependencies and reader.exists("angular.json"):
        return NodeFramework("angular", static_dir=angular_output(reader), build=f"{run}ng build")
    if "react-scripts" in dependencies:
        return NodeFramework("create-react-app", static_dir="build", build=f"{run}react-scripts build")
    if "vite" in dependencies:
        return NodeFramework("vite", static_dir=vite_output(reader), build=f"{run}vite build")
    return None
