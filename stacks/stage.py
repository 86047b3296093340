"""StageContext: what one synthesis targets (stage, account, region(s), cluster), read from the CDK
context (`-c stage=prod` ...) and checked, so a missing or wrong value is named before anything is
synthesized."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageContext:
    stage: str
    account: str | None  # None: environment-agnostic (offline synth)
    region: str
    eks_cluster_name: str | None = None  # None: no cluster, the runtime stack grants nothing on EKS

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"
