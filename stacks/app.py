"""Railyard's CDK app (aws-cdk-lib v2): one stack per part of the platform, every resource read from
chalicelib/catalogue.py. `python -m stacks.app` (what stacks/cdk.json runs) synthesizes them.

Context: `stage` (required), `account`, `region` (default us-east-1), `regions` (a comma list, the
primary first: docs/multi-region.md), `eksCluster` and `baseDomain` (together). A missing or
wrong value ends the synthesis with a message naming it and exit status 1.

Every region of the stage gets the regional stacks (events, api, workflow, build, runtime,
observability); the primary region also holds the data stack (the table, a global table with a
replica in every other region, and the buckets) and, in its API stack, the dashboard (S3 + CloudFront:
stacks/dashboard.py). CloudFormation stack names come from
`Catalogue.stack_name`; they are the same in every region (a stack name is regional), while
construct ids, which must be unique in the app, get the region appended outside the primary.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from stacks.api import API_STAGE, ApiStack
from stacks.build import BuildStack
from stacks.dashboard import DASHBOARD_URL_VARIABLE, DashboardSite
from stacks.data import DataStack
from stacks.events import EventsStack
from stacks.observability import ObservabilityStack
from stacks.packaging import scratch_dir
from stacks.refs import DataRefs
from stacks.runtime import RuntimeStack
from stacks.stage import ContextError, StageContext
from stacks.workflow import WorkflowStack


@dataclass
class RegionStacks:
    events: EventsStack
    api: ApiStack
    workflow: WorkflowStack
    build: BuildStack
    runtime: RuntimeStack
    observability: ObservabilityStack


def build_app(app: cdk.App, workdir: Path | None = None) -> dict[str, RegionStacks]:
    """Adds every stack of the stage the app's context names; returns the regional stacks by region
    (the data stack is `app.node.find_child(<its id>)`). Raises ContextError."""
    stage = StageContext.from_context(app.node.try_get_context)
    workdir = workdir or scratch_dir()
    catalogue = stage.catalogue
    data = DataStack(
        app,
        catalogue.stack_name("data"),
        stage=stage,
        stack_name=catalogue.stack_name("data"),
        env=cdk.Environment(account=stage.account, region=stage.primary_region),
        termination_protection=stage.is_prod,
    )
    regional: dict[str, RegionStacks] = {}
    for region in stage.regions:
        regional[region] = _regional_stacks(app, stage.in_region(region), data, workdir / region)
    # The primary's build stack makes the global (IAM) build policy the others refer to by name.
    primary_build = regional[stage.primary_region].build
    for region, stacks in regional.items():
        if region != stage.primary_region:
            stacks.build.add_stack_dependency(primary_build)
    return regional


def _regional_stacks(app: cdk.App, stage: StageContext, data: DataStack, workdir: Path) -> RegionStacks:
    catalogue = stage.catalogue
    suffix = "" if stage.is_primary else f"-{stage.region}"
    env = cdk.Environment(account=stage.account, region=stage.region)

    def common(part: str) -> dict[str, object]:
        return {"stack_name": catalogue.stack_name(part), "env": env, "termination_protection": stage.is_prod}

    workdir.mkdir(parents=True, exist_ok=True)
    events = EventsStack(app, catalogue.stack_name("events") + suffix, stage=stage, **common("events"))
    # Chalice takes its stage name from this id (stacks/api.py).
    api = ApiStack(app, stage.stage + suffix, stage=stage, workdir=workdir, **common("api"))
    if stage.is_primary:  # one dashboard per stage, in the API's stack: it knows the URL (ADR 0044)
        site = DashboardSite(
            api,
            "Dashboard",
            stage=stage,
            http_api_id=api.http_api.api_id,
            api_stage=API_STAGE,
            websocket_api_id=api.websocket_api_id,
        )
        api.add_environment(DASHBOARD_URL_VARIABLE, site.url)
    (workdir / "workers").mkdir(exist_ok=True)
    workflow = WorkflowStack(
        app,
        catalogue.stack_name("workflow") + suffix,
        stage=stage,
        events=events,
        workdir=workdir / "workers",
        websocket_api_id=api.websocket_api_id,
        **common("workflow"),
    )
    build_data = DataRefs.imported(events, stage.catalogue)  # imports only: no cross-stack export
    build = BuildStack(
        app, catalogue.stack_name("build") + suffix, stage=stage, data=build_data, **common("build")
    )
    workflow.build_worker_role.add_managed_policy(build.control_plane_policy)
    runtime = RuntimeStack(
        app,
        catalogue.stack_name("runtime") + suffix,
        stage=stage,
        cluster_roles=workflow.cluster_roles,
        **common("runtime"),
    )
    observability = ObservabilityStack(
        app,
        catalogue.stack_name("observability") + suffix,
        stage=stage,
        events=events,
        workflow=workflow,
        api_name=api.api_name,
        api_function_name=api.function_name,
        **common("observability"),
    )
    for stack in (api, workflow, build):  # they use the table and buckets by name
        stack.add_stack_dependency(data)
    return RegionStacks(events, api, workflow, build, runtime, observability)


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ContextError as error:
        print(f"railyard stacks: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
