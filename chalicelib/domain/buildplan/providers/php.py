"""The PHP provider: composer.json or index.php; Laravel's front end is built with node's plan."""

from __future__ import annotations

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles, Runtime
from chalicelib.domain.buildplan.providers.node import NodeProvider
from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.buildplan.versions import version_from_spec

DEFAULT_VERSION = "8.3"
RUNTIME = Runtime(DEFAULT_VERSION, "php:{v}-cli", "php:{v}-cli", "php")


class PhpProvider(DetectedByFiles):
    name = "php"
    label = "PHP"
    detect_files = ("composer.json", "index.php")
    start_help = "artisan, public/index.php or index.php"
    runtime = RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        composer = reader.json("composer.json") if reader.exists("composer.json") else {}
        install: tuple[str, ...] = ()
        build: tuple[str, ...] = ()
        deps_inputs: tuple[str, ...] = ()
        deps_dirs: tuple[str, ...] = ()
        env: dict[str, str] = {}
        cache_dirs: tuple[str, ...] = ()
        tools: dict[str, str] = {}
        if composer:
            install = ("composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader",)
            deps_inputs = ("composer.json", *reader.existing("composer.lock"))
            deps_dirs = ("vendor",)
            cache_dirs = ("~/.cache/composer",)
        # Laravel's front end (Vite) is built with the node toolchain, as Railpack does.
        if reader.exists("package.json"):
            node = NodeProvider().plan(reader)
            if node.build:
                install += node.install
                build += node.build
                deps_inputs += node.deps_inputs
                deps_dirs += node.deps_dirs
                cache_dirs += node.cache_dirs
                env |= node.env
                tools |= node.tools
        if reader.exists("artisan"):
            start = "php artisan serve --host 0.0.0.0 --port $PORT"
        else:
            # PHP's built-in server: one process, fine for small apps and local runs.
            root = "public" if reader.exists("public/index.php") else "."
            start = f"php -S 0.0.0.0:$PORT -t {root}"
        require = composer.get("require")
        constraint = require.get("php") if isinstance(require, dict) else None
        return BuildPlan(
            provider=self.name,
            install=install,
            build=build,
            start_command=start,
            language_version=version_from_spec(constraint, DEFAULT_VERSION),
            cache_dirs=cache_dirs,
            env=env,
            deps_inputs=deps_inputs,
            deps_dirs=deps_dirs,
            tools=tools,
        )
