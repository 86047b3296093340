"""The providers, in the one order they are tried; everything else derives from this table: what
detection looks for (LOOKED_FOR, and the error that lists it), which provider a name means
(railpack.json `provider`), and what a provider's plans run on (the renderings' images and
CodeBuild runtimes).

The order is Railway's builder's, so a Laravel app with a package.json is PHP and a Go service with
front-end tooling is Go. Python is tried twice: by its manifests before node, by a loose main file
after it (a node app with a helper app.py is a node app; a python app with a package.json for
front-end tooling is a python app).
"""

from __future__ import annotations

from chalicelib.domain.buildplan.provider import PLAIN_RUNTIME, Provider, Runtime
from chalicelib.domain.buildplan.providers import dockerfile, procfile, python
from chalicelib.domain.buildplan.providers.go import GoProvider
from chalicelib.domain.buildplan.providers.node import NodeProvider
from chalicelib.domain.buildplan.providers.php import PhpProvider
from chalicelib.domain.buildplan.providers.ruby import RubyProvider
from chalicelib.domain.buildplan.providers.rust import RustProvider
from chalicelib.domain.buildplan.providers.shell import ShellProvider
from chalicelib.domain.buildplan.providers.staticfile import StaticfileProvider
from chalicelib.domain.railway_config import CONFIG_FILES

PROVIDERS: tuple[Provider, ...] = (
    PhpProvider(),
    GoProvider(),
    RustProvider(),
    RubyProvider(),
    python.PythonProvider(python.MANIFESTS),
    NodeProvider(),
    python.PythonProvider(python.MAIN_FILES),
    StaticfileProvider(),
    ShellProvider(),
)
# Plans that no language provider made: a Procfile process line or a start command alone.
COMMAND = "command"
# Other names for providers, as Railway's builder spells them.
_ALIASES = {"golang": "go"}

RAILPACK_CONFIG = "railpack.json"


def _looked_for_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups: dict[str, list[str]] = {dockerfile.LABEL: list(dockerfile.LOOKED_FOR)}
    for provider in PROVIDERS:
        names = groups.setdefault(provider.label, [])
        names += [name for name in provider.detect_files if name not in names]
    groups[procfile.LABEL] = list(procfile.LOOKED_FOR)
    groups["config as code: deploy.startCommand"] = list(CONFIG_FILES)
    groups["Railpack's config: provider, deploy.startCommand"] = [RAILPACK_CONFIG]
    return tuple((label, tuple(names)) for label, names in groups.items())


# Everything detection looks at, grouped as a user should read it in an error message.
LOOKED_FOR_GROUPS = _looked_for_groups()
LOOKED_FOR = tuple(name for _, names in LOOKED_FOR_GROUPS for name in names)
PROVIDER_NAMES = tuple(dict.fromkeys(provider.name for provider in PROVIDERS))


def provider_named(name: str) -> Provider | None:
    """The provider `name` (or an alias of it) means, or None."""
    wanted = _ALIASES.get(name.strip().lower(), name.strip().lower())
    return next((provider for provider in PROVIDERS if provider.name == wanted), None)


def runtime_for(name: str) -> Runtime | None:
    """What plans of provider `name` run on; None for the user's own Dockerfile."""
    if name == dockerfile.NAME:
        return None
    provider = provider_named(name)
    return provider.runtime if provider is not None else PLAIN_RUNTIME
