"""The commands that work on this machine without the API: `railyard plan` (what a build would do,
from the directory's files alone) and `railyard dev` (the whole platform, locally)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from railyard.commands.common import fail
from railyard.localdev.options import DevOptions

DEV_DEFAULTS = DevOptions()  # `railyard dev`'s flags default to the options' own defaults


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(dev)


def plan(
    directory: Annotated[Path, typer.Argument(help="The app directory to plan.", file_okay=False)] = Path(
        "."
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show how Railyard would build and start this directory, without building or deploying."""
    import json

    # Local and API-free: the same pure planner the build runner uses, over the directory.
    from chalicelib.adapters.builds.source_tree import DirectorySourceTree
    from chalicelib.domain.buildplan import plan_build
    from chalicelib.domain.buildplan.report import notes_lines
    from chalicelib.domain.errors import BuildFailed, NothingToBuild

    root = directory.resolve()
    if not root.is_dir():
        fail(f"{root} is not a directory")
    try:
        # No start command override: it is a service setting, which only the API knows.
        build_plan = plan_build(DirectorySourceTree(str(root)), None)
    except (BuildFailed, NothingToBuild) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(build_plan.to_json(), indent=2))
        return

    def row(label: str, values: list[str] | tuple[str, ...], empty: str) -> None:
        # One command per line: install/build steps are long and read best stacked.
        items = list(values) or [empty]
        typer.echo(f"{label + ':':<18}{items[0]}")
        for item in items[1:]:
            typer.echo(f"{'':<18}{item}")

    row("Provider", [build_plan.provider], "-")
    row("Language version", [build_plan.language_version or "-"], "-")
    row("Tools", [f"{tool} {spec}" for tool, spec in build_plan.tools.items()], "-")
    row("Install", build_plan.install, "(nothing to install)")
    row("Build", build_plan.build, "(no build step)")
    row("Start command", [build_plan.start_command], "-")
    row("Cache dirs", build_plan.cache_dirs, "-")
    if build_plan.deps_dirs:
        inputs = ", ".join(build_plan.deps_inputs) or "-"
        row("Dependency layer", [f"{', '.join(build_plan.deps_dirs)} (keyed by {inputs})"], "-")
    row("Config files", build_plan.config_files, "none")
    row("Files read", [", ".join(build_plan.files_read)] if build_plan.files_read else [], "none")
    for line in notes_lines(build_plan):  # ignored keys, warnings and choices, as the build log says
        typer.echo(line)


def dev(
    demo: Annotated[bool, typer.Option(help="Deploy the bundled demo app once the platform is up.")] = False,
    exit_after_demo: Annotated[
        bool, typer.Option("--exit", help="With --demo: stop the platform after the demo deployment.")
    ] = False,
    api_port: Annotated[int, typer.Option(help="Port of the local API.")] = DEV_DEFAULTS.api_port,
    router_port: Annotated[
        int, typer.Option(help="Port of the router serving *.localhost apps.")
    ] = DEV_DEFAULTS.router_port,
    moto_port: Annotated[
        int, typer.Option(help="Port of the AWS emulator (0: a free port).")
    ] = DEV_DEFAULTS.moto_port,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the platform keeps its state (default: $RAILYARD_HOME/data)."),
    ] = DEV_DEFAULTS.data_dir,
    fresh: Annotated[
        bool, typer.Option(help="Start empty: delete the data directory's state first.")
    ] = DEV_DEFAULTS.fresh,
    aws: Annotated[
        str,
        typer.Option(
            help="Where AWS runs: 'moto' (embedded) or 'localstack' (LocalStack and DynamoDB Local on "
            "this host; docs/localstack.md). Same code, other endpoints."
        ),
    ] = DEV_DEFAULTS.aws,
) -> None:
    """Run the whole platform on this machine (AWS emulator, API, workers, router); a restart keeps
    every project, deployment, log and live app."""
    options = DevOptions(api_port, router_port, moto_port, data_dir, fresh, aws)
    problem = options.problem()
    if problem is not None:
        fail(problem)
    # Imported here: the local platform pulls in moto, boto3 and chalice, which no other command needs.
    from railyard.localdev import run_dev

    raise typer.Exit(run_dev(options, demo=demo, exit_after_demo=exit_after_demo))
