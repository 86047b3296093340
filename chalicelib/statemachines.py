"""The state machines' definitions as files (statemachines/*.asl.json, declared in the catalogue)
and the one way their `${Placeholder}`s are filled: by the CDK workflow stack (with CloudFormation
references), by the local bootstrap (with the emulator's URLs) and by `make synth`'s ASL check.

Pure: no AWS SDK. The directory is the repository's, read at synthesis and by the local platform;
no Lambda reads it (the ASL reaches AWS inside the workflow stack's template).
"""

from __future__ import annotations

import re
from pathlib import Path

STATEMACHINES_DIR = Path(__file__).resolve().parents[1] / "statemachines"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def render_definition(text: str, values: dict[str, str]) -> str:
    """Fills `${Placeholder}`s; an unknown placeholder is an error, never left in the ASL."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"state machine placeholder ${{{name}}} has no value in the catalogue")
        return values[name]

    return _PLACEHOLDER.sub(fill, text)
