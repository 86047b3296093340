"""The service settings: what a user configures per service (Railway's deploy settings), declared
once. Each field of `ServiceSettings` is a row of the settings table: its type and default, and in
`setting(...)` its range (from domain/limits.py), whether the API may clear it with null, and
whether (and how: `ConfigFileKey`) a config file's `deploy` section may set it. Everything else
derives from these rows (`SETTINGS`): the validation below, the API's patch model and view
(api/schemas.py), the config-file keys of Railway's schema (railway_schema.DEPLOY), the values a
config file carries and applies (railway_config.DeployConfig, built_release.effective_settings) and
the runtimes, which read the fields. Adding a setting is one field here: docs/settings.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from chalicelib.domain import limits
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.schedule import cron_problem

RESTART_POLICIES = ("ON_FAILURE", "ALWAYS", "NEVER")
# A health check path: absolute, printable ASCII, no spaces. The row publishes it (OpenAPI's pattern),
# so the dashboard checks it before sending; the check below stays the authority.
HEALTHCHECK_PATH_PATTERN = r"^/[\x21-\x7e]*$"
HEALTHCHECK_PATH_SAYS = "must start with '/' and contain no spaces"
_PATH = re.compile(HEALTHCHECK_PATH_PATTERN)
# A setting that no longer exists: custom domains are records that must be verified before they
# serve (chalicelib/domain/domains.py, docs/decisions/0024). Stored items may still carry it.
RETIRED_SETTINGS = ("custom_domains",)


@dataclass(frozen=True)
class ConfigFileKey:
    """How a config file's `deploy.<apiName>` reads a setting, where Railway reads it otherwise than
    the row says. railway_schema derives the key of Railway's schema from the row and this, and
    railway_config.DeployConfig carries the value read: the row is the one declaration."""

    description: str  # the key's description in the published schema (docs/railway.schema.json)
    pattern: str | None = None  # Railway's pattern for a text value (healthcheckPath: "^/")
    commands: bool = False  # a list of commands is accepted too and runs in order (preDeployCommand)
    # A value above the row's maximum fails, the maximum being Railway's own too (numReplicas);
    # otherwise the limit is Railyard's only, and a larger value is applied at it with a warning.
    maximum_is_railways: bool = False


@dataclass(frozen=True)
class Setting:
    """One row of the settings table (read from a ServiceSettings field's metadata)."""

    name: str  # the ServiceSettings field, snake_case (stored items, config-file overrides)
    api_name: str  # camelCase: the API's field, the config file's deploy.<key>, error messages
    kind: type  # str, int or float (the API's type; None is allowed when `clearable` or default None)
    default: Any
    minimum: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound (a timeout of 0 is no timeout)
    maximum: float | None = None  # inclusive
    unit: str = ""  # in the range's message: " seconds"
    max_chars: int | None = None
    pattern: str | None = None  # a text setting's shape (published in the API's schema)
    pattern_says: str = ""  # the pattern in words: the API's message and the published schema's
    choices: tuple[str, ...] = ()
    clearable: bool = False  # the API accepts null: "unset"
    config_file: ConfigFileKey | None = None  # a config file's deploy.<api_name> sets it (and wins)
    # `railyard service settings --<flag>`: the api name in kebab case unless the row names another
    # (Railway's CLI says --replicas, not --num-replicas).
    cli_flag: str | None = None

    @property
    def flag(self) -> str:
        return self.cli_flag or re.sub(r"(?<!^)(?=[A-Z])", "-", self.api_name).lower()


def setting(default: Any, **row: Any) -> Any:
    """A ServiceSettings field and its row of the table."""
    return dataclasses.field(default=default, metadata={"setting": row})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class ServiceSettings:
    """What a user configures per service (Railway's deploy settings, camelCase in the API)."""

    start_command: str | None = setting(None, max_chars=limits.MAX_COMMAND_CHARS, clearable=True)
    # None: no HTTP check; live once the process opened $PORT or stayed up (domain/workloads.py).
    healthcheck_path: str | None = setting(
        None,
        max_chars=limits.MAX_PATH_CHARS,
        pattern=HEALTHCHECK_PATH_PATTERN,
        pattern_says=HEALTHCHECK_PATH_SAYS,
        clearable=True,
        config_file=ConfigFileKey("A release is live once this path answers 2xx.", pattern="^/"),
    )
    healthcheck_timeout: float = setting(
        60.0,
        above=0,
        maximum=limits.MAX_HEALTHCHECK_TIMEOUT_SECONDS,
        unit=" seconds",
        config_file=ConfigFileKey("Seconds to wait for the health check."),
    )
    restart_policy_type: str = setting(
        "ON_FAILURE", choices=RESTART_POLICIES, config_file=ConfigFileKey("When a crashed replica restarts.")
    )
    restart_policy_max_retries: int = setting(
        3,
        minimum=0,
        maximum=limits.MAX_RESTART_RETRIES,
        config_file=ConfigFileKey("Restarts before a replica stays down (ON_FAILURE)."),
    )
    # Railway's teardown: the old release keeps serving `overlap_seconds` after the new one is live,
    # then gets SIGTERM and `draining_seconds` to exit before SIGKILL.
    overlap_seconds: float = setting(
        2.0,
        minimum=0,
        maximum=limits.MAX_TEARDOWN_SECONDS,
        config_file=ConfigFileKey("Seconds the previous release keeps serving after the new one is live."),
    )
    draining_seconds: float = setting(
        5.0,
        minimum=0,
        maximum=limits.MAX_TEARDOWN_SECONDS,
        config_file=ConfigFileKey("Seconds between SIGTERM and SIGKILL for the previous release."),
    )
    build_timeout: float = setting(900.0, above=0, maximum=limits.MAX_BUILD_TIMEOUT_SECONDS, unit=" seconds")
    # Run once before a release starts (migrations).
    pre_deploy_command: str | None = setting(
        None,
        max_chars=limits.MAX_COMMAND_CHARS,
        clearable=True,
        config_file=ConfigFileKey(
            "Run once before the new release starts; a list runs in order.", commands=True
        ),
    )
    num_replicas: int = setting(
        1,
        minimum=1,
        maximum=limits.MAX_REPLICAS,
        config_file=ConfigFileKey("Instances sharing the traffic.", maximum_is_railways=True),
        cli_flag="replicas",
    )
    # A cron service runs its start command on this schedule (UTC) instead of serving traffic.
    cron_schedule: str | None = setting(
        None,
        max_chars=limits.MAX_CRON_CHARS,
        clearable=True,
        config_file=ConfigFileKey("Five cron fields (UTC): the service runs as a job on this schedule."),
    )
    # Resources per replica (Kubernetes requests/limits): CPU in millicores, memory in MiB. Their
    # ranges relate request and limit: _check_resources.
    cpu_request_millis: int = setting(250)
    cpu_limit_millis: int = setting(1000)
    memory_request_mb: int = setting(256)
    memory_limit_mb: int = setting(512)
    # Autoscaling is on when autoscale_max_replicas is set; it then owns the replica count.
    autoscale_min_replicas: int = setting(1)
    autoscale_max_replicas: int | None = setting(None, clearable=True)
    autoscale_cpu_percent: int | None = setting(70, clearable=True)
    autoscale_memory_percent: int | None = setting(None, clearable=True)

    def __post_init__(self) -> None:
        for row in SETTINGS:
            _check(row, getattr(self, row.name))
        if self.healthcheck_path is not None and not _PATH.match(self.healthcheck_path):
            raise BadRequest(f"settings.healthcheckPath {HEALTHCHECK_PATH_SAYS}")
        if self.cron_schedule is not None:
            problem = cron_problem(self.cron_schedule)
            if problem:
                raise BadRequest(f"settings.cronSchedule {self.cron_schedule!r} is not valid: {problem}")
        self._check_resources()
        self._check_autoscaling()

    def _check_resources(self) -> None:
        if not 10 <= self.cpu_request_millis <= self.cpu_limit_millis <= 32000:
            raise BadRequest(
                "settings.cpuRequestMillis and cpuLimitMillis must satisfy 10 <= request <= limit <= 32000"
            )
        if not 16 <= self.memory_request_mb <= self.memory_limit_mb <= 65536:
            raise BadRequest(
                "settings.memoryRequestMb and memoryLimitMb must satisfy 16 <= request <= limit <= 65536"
            )

    def _check_autoscaling(self) -> None:
        if self.autoscale_max_replicas is None:
            return
        if not 1 <= self.autoscale_min_replicas <= self.autoscale_max_replicas <= limits.MAX_REPLICAS:
            raise BadRequest(
                "settings.autoscaleMinReplicas and autoscaleMaxReplicas must satisfy "
                f"1 <= min <= max <= {limits.MAX_REPLICAS}"
            )
        targets = (self.autoscale_cpu_percent, self.autoscale_memory_percent)
        if all(t is None for t in targets):
            raise BadRequest(
                "settings.autoscaleCpuPercent or autoscaleMemoryPercent must be set to autoscale"
            )
        if any(t is not None and not 1 <= t <= 100 for t in targets):
            raise BadRequest(
                "settings.autoscaleCpuPercent and autoscaleMemoryPercent must be between 1 and 100"
            )

    @property
    def autoscaling(self) -> bool:
        return self.autoscale_max_replicas is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceSettings:
        # Settings written before a setting was retired are read without it (never served again).
        return cls(**{name: value for name, value in data.items() if name not in RETIRED_SETTINGS})


def _check(row: Setting, value: Any) -> None:
    """The checks a row declares. The API's schema and the config files give the same bounds;
    checked here too so that whichever sets a value, a deployment's item stays far below
    DynamoDB's item limit and a runtime never sees a value out of range."""
    if value is None:
        return
    where = f"settings.{row.api_name}"
    if row.choices and value not in row.choices:
        raise BadRequest(f"{where} must be one of {', '.join(row.choices)}")
    if row.max_chars is not None and len(value) > row.max_chars:
        raise BadRequest(f"{where} is {len(value)} characters; the limit is {row.max_chars}")
    if row.maximum is None:
        return
    low = row.minimum if row.minimum is not None else row.above
    too_low = value <= row.above if row.above is not None else value < (row.minimum or 0)
    if too_low or value > row.maximum:
        raise BadRequest(f"{where} must be between {low:g} and {row.maximum:g}{row.unit}")


def _rows() -> tuple[Setting, ...]:
    return tuple(
        Setting(
            name=field.name,
            api_name=_camel(field.name),
            kind=type(field.default) if field.default is not None else _kind_of(field.type),
            default=field.default,
            **field.metadata["setting"],
        )
        for field in dataclasses.fields(ServiceSettings)
    )


def _kind_of(annotation: Any) -> type:
    # Fields default to None only when optional: "str | None" -> str (annotations are strings here).
    base = str(annotation).split("|")[0].strip()
    return {"str": str, "int": int, "float": float}[base]


# The settings table, in declaration order.
SETTINGS: tuple[Setting, ...] = _rows()


@cache
def config_file_setting_names() -> tuple[str, ...]:
    """The ServiceSettings fields a config file's deploy section may set (and then wins on)."""
    return tuple(row.name for row in CONFIG_FILE_SETTINGS)


# The rows a config file's deploy section may set, in declaration order.
CONFIG_FILE_SETTINGS: tuple[Setting, ...] = tuple(row for row in SETTINGS if row.config_file is not None)
