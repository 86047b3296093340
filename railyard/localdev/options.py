"""What `railyard dev` is asked to run, declared once: its options and their defaults (the CLI's
flags default to these; `localdev.start` and `run_dev` take them as one value) and the check that
the AWS target asked for can run on this machine. Light: importing it pulls in no AWS library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DevOptions:
    api_port: int = 8000
    router_port: int = 8080  # serves *.localhost apps
    moto_port: int = 0  # the AWS emulator's; 0: a free port
    data_dir: Path | None = None  # None: $RAILYARD_DATA_DIR, else $RAILYARD_HOME/data
    fresh: bool = False  # start empty: delete the data directory's state first
    aws: str = "moto"  # the AWS target (railyard/localdev/targets.py): moto or localstack

    def problem(self) -> str | None:
        """Why the platform cannot start as asked (an unknown target, LocalStack not installed),
        said in the CLI's flags; None when it can."""
        from railyard.localdev.targets import TARGETS

        if self.aws not in TARGETS:
            return f"--aws {self.aws!r} is not a target (use one of: {', '.join(TARGETS)})"
        if self.aws == "localstack":
            from railyard.localdev.localstack import missing_reason

            reason = missing_reason()
            if reason is not None:
                return f"--aws localstack: {reason}"
        return None
