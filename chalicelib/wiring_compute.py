"""The composition root's compute parts: where builds run (the local runner or CodeBuild) and where
releases run (the local runtime or Kubernetes/EKS), chosen by the settings and built on first use
like the rest of chalicelib/wiring.py's Container, which inherits them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.wiring_core import CoreParts

if TYPE_CHECKING:
    from chalicelib.domain.ports import BuildRunner, Runtime


class ComputeParts(CoreParts):
    """Builds and releases; the Container provides what is declared in CoreParts."""

    @cached_property
    def build_runner(self) -> BuildRunner:
        s = self.settings
        if s.builder == "codebuild":  # asynchronous: the pipeline starts builds, events end them
            from chalicelib.adapters.builds.codebuild import CodeBuildRunner
            from chalicelib.adapters.builds.isolation import ProjectBuildAccess

            project = s.catalogue.codebuild_project
            access = ProjectBuildAccess(s.catalogue.build_isolation, s.account_id, s.region, project)
            # RAILYARD_ECR_REPOSITORY_URI names the registry (its host); each project pushes to its
            # own repository there (catalogue.BuildIsolation.ecr_repository). Unset: no image.
            registry = s.ecr_repository_uri.split("/", 1)[0] if s.ecr_repository_uri else None
            return CodeBuildRunner(
                project,
                self.blobs,
                s.sources_bucket,
                s.artifacts_bucket,
                registry,
                access=access,
                cache_bucket=s.artifacts_bucket,  # under each project's cache prefix
            )
        if s.builder != "local":
            raise ValueError(f"RAILYARD_BUILDER={s.builder!r} is not a builder (use 'local' or 'codebuild')")
        from chalicelib.adapters.builds.local import LocalBuildRunner

        return LocalBuildRunner(
            s.data_dir, self.blobs, s.sources_bucket, s.artifacts_bucket, npm_registry=s.npm_registry
        )

    @cached_property
    def runtime(self) -> Runtime:
        s = self.settings
        if s.runtime == "kubernetes":
            return self._kubernetes_runtime()
        from chalicelib.adapters.runtime.local import LocalRuntime

        return LocalRuntime(
            s.data_dir,
            self.blobs,
            s.artifacts_bucket,
            on_crash=lambda d, r, completed=False: self.pipeline.mark_crashed(d, r, completed),
            worker_settle_seconds=s.worker_settle_seconds,
        )

    def _kubernetes_runtime(self) -> Runtime:
        # This module and manifests import no kubernetes: the client (and, for EKS, the cluster's
        # endpoint and a token) is built on the runtime's first request, not here.
        from dataclasses import replace

        from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
        from chalicelib.adapters.runtime.manifests import ManifestOptions

        s = self.settings
        assert s.base_domain is not None  # Settings refuses kubernetes without one
        options = ManifestOptions(
            base_domain=s.base_domain,
            certificate_arn=s.certificate_arn,
            load_balancer_group=s.load_balancer_group,
            load_balancer_cidrs=s.load_balancer_cidrs,
            allowed_egress_cidrs=s.allowed_egress_cidrs,
            worker_settle_seconds=s.worker_settle_seconds,
        )
        if s.blocked_egress_cidrs is not None:  # unset: the runtime's default (every private range)
            options = replace(options, blocked_egress_cidrs=s.blocked_egress_cidrs)
        if s.kubeconfig:  # an explicit file wins: a local cluster, CI, or an operator's override
            return KubernetesRuntime.for_kubeconfig(s.kubeconfig, options, context=s.kube_context)
        assert s.eks_cluster is not None  # Settings refuses kubernetes without either
        return KubernetesRuntime.for_eks(s.eks_cluster, options, region=s.region)
