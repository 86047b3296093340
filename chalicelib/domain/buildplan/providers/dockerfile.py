"""The dockerfile "provider": the user's own Dockerfile, chosen before any detection (as on
Railway) unless config says to build with Railpack/Nixpacks. Nothing is installed outside the
image, and its CMD starts it unless a start command is set."""

from __future__ import annotations

from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.railway_config import RailwayConfig

NAME = "dockerfile"
LABEL = "Docker"
DOCKERFILE = "Dockerfile"
LOOKED_FOR = (DOCKERFILE,)


def dockerfile_path(reader: Reader, config: RailwayConfig) -> str | None:
    """The Dockerfile to build, or None to detect a provider."""
    builder = config.build.builder
    if builder in ("RAILPACK", "NIXPACKS"):
        return None  # an explicit choice to ignore a Dockerfile that is present
    path = config.build.dockerfile_path
    if path is not None:
        path = path.removeprefix("./")
        if not reader.exists(path):
            raise BuildFailed(
                f"{config.source_of('build.dockerfilePath')}: build.dockerfilePath is {path!r}, "
                "which is not in the source"
            )
        return path
    if reader.exists(DOCKERFILE):
        return DOCKERFILE
    if builder == "DOCKERFILE":
        raise BuildFailed(
            f"{config.source_of('build.builder')}: build.builder is DOCKERFILE but there is no "
            "Dockerfile at the root; add one or set build.dockerfilePath"
        )
    return None
