"""ProjectBuildAccess: what one project's CodeBuild builds run as and with (issue 9: no user build
runs with one all-powerful role; the contract is chalicelib/catalogue.py BuildIsolation).

For a project it ensures, once per container:
- its IAM role `BuildIsolation.role_name(project)`: trusted by CodeBuild (for this stage's project
  only), tagged PROJECT_TAG=<project id>, with the build stack's managed policy as its permissions
  boundary and as its only policy. That policy scopes every resource by the principal tag, so the
  role can read and write only its own project's prefixes, repository and parameters;
- its ECR repository `BuildIsolation.ecr_repository(project)`, scan on push and a lifecycle policy
  (docs/decisions/0014 says why the adapter creates it rather than a creation template);
and per build it stores the user's variables as SecureString parameters under the project's
parameter prefix, returning CodeBuild PARAMETER_STORE references, so no value appears in the
StartBuild call, the build record or the state-change event.

The build worker's own permissions for all of this are the build stack's `control_plane_policy`:
CreateRole only with this boundary, AttachRolePolicy only of this policy, on the role prefix only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.aws import client, error_code
from chalicelib.catalogue import PROJECT_TAG, BuildIsolation
from chalicelib.domain.errors import BuildFailed

# Parameters of builds that started longer ago than this are deleted by a later build's start: a
# build reads its PARAMETER_STORE variables when it starts, and no build waits in CodeBuild's
# queue (8 h at most) or runs (limits.py: 2 h) this long.
STALE_PARAMETERS = timedelta(days=1)
# Pages of the project's parameters (10 per page) a start sweeps at most: a bounded cost per build.
# Deployment ids sort by time, so the oldest come first.
SWEEP_PAGES = 5
# SSM parameter names allow only these characters; a variable named otherwise is not passed.
_PARAMETER_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
# An id that is a valid IAM role-name part, object-key segment, ECR repository part and SSM path part.
_PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class ProjectBuildAccess:
    def __init__(
        self,
        isolation: BuildIsolation,
        account_id: str,
        region: str,
        codebuild_project: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.isolation = isolation
        self._account = account_id
        self._region = region
        self._partition = partition_of(region)
        self._codebuild_project = codebuild_project
        self._monotonic = monotonic
        self._roles: dict[str, str] = {}  # project id -> role ARN, ready in this container
        self._created_at: dict[str, float] = {}  # project id -> when this container created its role
        self._repositories: set[str] = set()
        self._lock = threading.Lock()

    @property
    def policy_arn(self) -> str:
        return f"arn:{self._partition}:iam::{self._account}:policy/{self.isolation.policy_name}"

    def check_project_id(self, project_id: str) -> None:
        if not _PROJECT_ID.match(project_id):
            raise ValueError(f"unsafe project id for a role, key or repository name: {project_id!r}")
        if len(self.isolation.role_name(project_id)) > 64:
            raise ValueError(f"the build role name of project {project_id!r} exceeds IAM's 64 characters")

    # --- the role ---------------------------------------------------------------------------------

    def role_arn(self, project_id: str) -> str:
        """The project's build role, created (or repaired) on this container's first use of it."""
        self.check_project_id(project_id)
        with self._lock:
            found = self._roles.get(project_id)
        if found is not None:
            return found
        arn = self._ensure_role(project_id)
        with self._lock:
            self._roles[project_id] = arn
        return arn

    def created_recently(self, project_id: str, within: float) -> bool:
        """True when this container created the project's role less than `within` seconds ago: a
        refusal by CodeBuild then is IAM's propagation delay, worth a retry."""
        created = self._created_at.get(project_id)
        return created is not None and self._monotonic() - created < within

    def _ensure_role(self, project_id: str) -> str:
        iam = client("iam")
        name = self.isolation.role_name(project_id)
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            role = self._create_role(project_id, name)
        boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary is not None and boundary != self.policy_arn:
            # Never start a user's build as a role someone widened: it is not ours to repair.
            raise BuildFailed(
                f"the build role {name} has the permissions boundary {boundary}, not {self.policy_arn}: "
                "delete the role (Railyard recreates it) or restore its boundary"
            )
        # Idempotent; also repairs a role whose creation was interrupted before the attachment.
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=self.policy_arn)
        except Exception as exc:
            if error_code(exc) in ("NoSuchEntity", "NoSuchEntityException"):
                raise BuildFailed(
                    f"the build policy {self.isolation.policy_name} does not exist in this account: "
                    "deploy the platform's build stack (it creates it) or set RAILYARD_BUILDER=local"
                ) from None
            raise
        return str(role["Arn"])

    def _create_role(self, project_id: str, name: str) -> dict[str, Any]:
        iam = client("iam")
        try:
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(self._trust_policy()),
                PermissionsBoundary=self.policy_arn,
                Description=f"Railyard builds of project {project_id} (created by the build worker)",
                Tags=[{"Key": PROJECT_TAG, "Value": project_id}],
            )["Role"]
        except Exception as exc:
            if error_code(exc) != "EntityAlreadyExists":  # another worker created it meanwhile
                raise
            return dict(iam.get_role(RoleName=name)["Role"])
        self._created_at[project_id] = self._monotonic()
        # A fresh role carries the boundary it was created with; CreateRole's answer omits it.
        return {**role, "PermissionsBoundary": {"PermissionsBoundaryArn": self.policy_arn}}

    def _trust_policy(self) -> dict[str, Any]:
        # Only CodeBuild, and only for this stage's project (the confused-deputy conditions), in any
        # region: IAM is global, so a project's role made by one region's worker serves them all.
        codebuild = f"arn:{self._partition}:codebuild:*:{self._account}"
        project_arn = f"{codebuild}:project/{self._codebuild_project}"
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "codebuild.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": self._account},
                        "ArnLike": {"aws:SourceArn": project_arn},
                    },
                }
            ],
        }

    # --- the image repository ---------------------------------------------------------------------

    def repository(self, project_id: str) -> str:
        """The project's ECR repository name, created with scan on push and its lifecycle policy."""
        self.check_project_id(project_id)
        name = self.isolation.ecr_repository(project_id)
        if name in self._repositories:
            return name
        ecr = client("ecr")
        try:
            ecr.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "AES256"},
                tags=[{"Key": PROJECT_TAG, "Value": project_id}],
            )
        except Exception as exc:
            if error_code(exc) != "RepositoryAlreadyExistsException":
                raise
        # Every time a container first uses it: repairs a creation interrupted before this call.
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(image_lifecycle()))
        self._repositories.add(name)
        return name

    # --- the variables ----------------------------------------------------------------------------

    def parameter_name(self, project_id: str, deployment_id: str, variable: str) -> str:
        return f"{self.isolation.parameter_prefix(project_id)}{deployment_id}/{variable}"

    def put_variables(
        self, project_id: str, deployment_id: str, variables: Mapping[str, str]
    ) -> tuple[list[dict[str, str]], list[str]]:
        """CodeBuild environment entries for `variables` (PARAMETER_STORE references to SecureString
        parameters written now) and the names that cannot be parameters (not passed)."""
        ssm = client("ssm")
        entries: list[dict[str, str]] = []
        refused: list[str] = []
        for name, value in sorted(variables.items()):
            if not _PARAMETER_SAFE.match(name):
                refused.append(name)
                continue
            if value == "":  # SSM refuses an empty value; an empty one holds no secret
                entries.append({"name": name, "value": "", "type": "PLAINTEXT"})
                continue
            parameter = self.parameter_name(project_id, deployment_id, name)
            ssm.put_parameter(
                Name=parameter,
                Value=value,
                Type="SecureString",  # the account's aws/ssm key
                Overwrite=True,  # a retried start writes the same values again
                Tier="Intelligent-Tiering",  # standard up to 4 KB, advanced only when a value needs it
            )
            entries.append({"name": name, "value": parameter, "type": "PARAMETER_STORE"})
        return entries, refused

    def sweep_parameters(self, project_id: str, now: datetime | None = None) -> int:
        """Deletes the project's parameters older than STALE_PARAMETERS (builds that ended long
        ago), reading at most SWEEP_PAGES pages; returns how many went."""
        ssm = client("ssm")
        cutoff = (now or datetime.now(UTC)) - STALE_PARAMETERS
        stale: list[str] = []
        kwargs: dict[str, Any] = {
            "Path": self.isolation.parameter_prefix(project_id).rstrip("/"),
            "Recursive": True,
            "WithDecryption": False,
            "MaxResults": 10,
        }
        for _ in range(SWEEP_PAGES):
            page = ssm.get_parameters_by_path(**kwargs)
            stale += [p["Name"] for p in page.get("Parameters", []) if p["LastModifiedDate"] < cutoff]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for start in range(0, len(stale), 10):  # DeleteParameters takes 10 names
            ssm.delete_parameters(Names=stale[start : start + 10])
        return len(stale)


def image_lifecycle() -> dict[str, Any]:
    """Untagged images (layers a re-push left) go after a day; of the tagged ones (one per
    deployment) the newest BuildIsolation.IMAGES_KEPT stay, enough for every kept release."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "untagged images",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "all but the newest images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": BuildIsolation.IMAGES_KEPT,
                },
                "action": {"type": "expire"},
            },
        ]
    }
