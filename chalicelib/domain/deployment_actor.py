"""Who made a deployment (docs/decisions/0042-who-made-a-deployment.md): the principal that created
it, fixed when it is created and shown in every deployments list ("who" in issue 13).

It is a copy, not a reference: a person's email or a token's name as they were then, so the history
still reads after the token is revoked or the person has left, and no list needs a second read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.policy import Principal

# How each kind of caller reads in a list; the one place the words are chosen (API `createdBy.label`).
_LABELS = {
    "user": "{name}",
    "token": "token {name}",
    "git": "GitHub push by {name}",
    "system": "Railyard ({name})",
}


@dataclass(frozen=True)
class DeploymentActor:
    kind: str  # user | token | git | system (Principal.kind; "git" for a pushed commit)
    name: str  # an email, a token's name, a commit's author (or the linked repo), "railyard"
    user_id: str | None = None  # the person, or the person who issued the token

    @property
    def label(self) -> str:
        return _LABELS.get(self.kind, "{name}").format(name=self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "userId": self.user_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentActor:
        return cls(kind=str(data["kind"]), name=str(data["name"]), user_id=data.get("userId"))


def actor_of(principal: Principal, commit_author: str | None = None) -> DeploymentActor:
    """The deployment's creator. A pushed commit is the push's (its author, or the linked repository
    when the commit names none), whatever principal carried it (a git link, or the platform for a
    pull request's preview environment)."""
    if commit_author is not None or principal.kind == "git":
        return DeploymentActor("git", commit_author or principal.name or principal.subject)
    return DeploymentActor(principal.kind, principal.name or principal.subject, principal.user_id)
