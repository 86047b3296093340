"""Build planning: how to install, build and start a source tree, decided from its files alone.

Split the way Railway's builder (Railpack) is split, and following what it decides for the same
repository so an app moves over unchanged:

- plan.py        the contract: BuildPlan (and the artifact contract), SourceTree
- planner.py     plan_build: the Dockerfile, railpack.json, the provider, config and settings laid
                 over its plan, in a stated precedence
- registry.py    the providers in the one order they are tried; LOOKED_FOR and each provider's
                 runtime (images, CodeBuild) derive from it
- provider.py    the Provider protocol and the Runtime a provider owns
- providers/     one module per provider (node and python are packages)
- reader.py      reading the tree (recording what shaped the plan); inputs.py, versions.py:
                 dependency-layer inputs and tool versions, shared by the providers
- railpack_config.py  railpack.json; railway_config.py (beside this package) railway.json & co.

Dependencies are installed inside the app directory (`deps_dirs`) so the artifact is
self-contained and the dependency layer can be cached by `deps_inputs`; tool caches outside it are
`cache_dirs`. It is pure: it reads the tree only through `SourceTree`, so the same plan is computed
by the local build runner (over a directory) and by unit tests (over a dict).
"""

from __future__ import annotations

from chalicelib.domain.buildplan.plan import BuildPlan, SourceTree, tool_setup
from chalicelib.domain.buildplan.planner import SET_START_COMMAND_HINT, plan_build
from chalicelib.domain.buildplan.providers.go import DEFAULT_VERSION as DEFAULT_GO_VERSION
from chalicelib.domain.buildplan.providers.node import DEFAULT_VERSION as DEFAULT_NODE_VERSION
from chalicelib.domain.buildplan.providers.php import DEFAULT_VERSION as DEFAULT_PHP_VERSION
from chalicelib.domain.buildplan.providers.python import DEFAULT_VERSION as DEFAULT_PYTHON_VERSION
from chalicelib.domain.buildplan.providers.ruby import DEFAULT_VERSION as DEFAULT_RUBY_VERSION
from chalicelib.domain.buildplan.providers.rust import DEFAULT_VERSION as DEFAULT_RUST_VERSION
from chalicelib.domain.buildplan.registry import LOOKED_FOR, runtime_for
from chalicelib.domain.railway_config import DeployConfig

__all__ = [
    "DEFAULT_GO_VERSION",
    "DEFAULT_NODE_VERSION",
    "DEFAULT_PHP_VERSION",
    "DEFAULT_PYTHON_VERSION",
    "DEFAULT_RUBY_VERSION",
    "DEFAULT_RUST_VERSION",
    "LOOKED_FOR",
    "SET_START_COMMAND_HINT",
    "BuildPlan",
    "DeployConfig",
    "SourceTree",
    "plan_build",
    "runtime_for",
    "tool_setup",
]
