"""Renderings of a BuildPlan for AWS: a CodeBuild buildspec (buildspec.py) and a Dockerfile
(dockerfile.py).

The plan (chalicelib/domain/buildplan) decides *what* to run; these modules only write it down in
two other formats, so the local runner, CodeBuild and an image build all execute the same
commands. Images, default versions and CodeBuild runtimes come from the plan's provider
(`buildplan.runtime_for`), never from a table here. Pure text generation over the standard library.

Artifact contract (see buildplan/plan.py): the buildspec also packs the built tree as
`.railyard-out/artifact.tar.gz` with `.railyard/runtime.json`, exactly like the local runner.
"""

from __future__ import annotations

from chalicelib.domain.renderings.buildspec import (
    SHAREABLE_CACHE_DIRS,
    VARIABLES_DIGEST_ENV,
    render_buildspec,
    variables_digest,
)
from chalicelib.domain.renderings.common import (
    APP_DIR,
    ARTIFACT_DIR,
    ARTIFACT_NAME,
    CODEBUILD_HOME,
    DEFAULT_PORT,
    DOCKERFILE_PATH,
    RUNTIME_UID,
    container_command,
)
from chalicelib.domain.renderings.dockerfile import render_dockerfile

__all__ = [
    "APP_DIR",
    "ARTIFACT_DIR",
    "ARTIFACT_NAME",
    "CODEBUILD_HOME",
    "DEFAULT_PORT",
    "DOCKERFILE_PATH",
    "RUNTIME_UID",
    "SHAREABLE_CACHE_DIRS",
    "VARIABLES_DIGEST_ENV",
    "container_command",
    "render_buildspec",
    "render_dockerfile",
    "variables_digest",
]
