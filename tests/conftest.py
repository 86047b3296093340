"""Shared fixtures: one embedded moto server per session, reset between the tests that use it; one
`railyard dev` platform per session for the end-to-end and fault modules that take `dev`; and the
order the suite's modules run in."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.moto_store import MotoStore
from tests.support.platform import Dev, SharedPlatform

# Where the modules are that each take from half a minute to a few minutes (a `railyard dev`
# subprocess, real builds, restarts, a CDK synth, schemathesis), the longest first. `make test` runs
# `-n 3 --dist loadfile --no-loadscope-reorder`: xdist hands out modules in collection order, so
# these go first (the ones sharing the session's platform before the others, so that each worker
# starts it once) and the hundreds of short modules fill the workers' ends, and the three finish
# together. (xdist's default order, most tests first, left the one-test modules of minutes for last.)
SLOW_PATHS = (
    "tests/faults/",
    "tests/e2e/",
    "tests/browser/",
    "tests/localstack/",
    "tests/contract/",
    "tests/unit/test_synth_tool.py",
    "tests/unit/test_build_limits.py",
)
_SHARING_MODULES = pytest.StashKey[frozenset[str]]()
_SHARED_PLATFORM = pytest.StashKey[SharedPlatform]()


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sharing = frozenset(
        _module(item) for item in items if "shared_platform" in getattr(item, "fixturenames", ())
    )
    config.stash[_SHARING_MODULES] = sharing

    def rank(item: pytest.Item) -> tuple[int, int]:
        module = _module(item)
        slow = next((i for i, path in enumerate(SLOW_PATHS) if module.startswith(path)), None)
        if slow is None:
            return (2, 0)
        return (0 if module in sharing else 1, slow)

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stops the shared platform once the next module does not take it."""
    platform = item.config.stash.get(_SHARED_PLATFORM, None)
    if platform is not None and (
        nextitem is None or _module(nextitem) not in item.config.stash.get(_SHARING_MODULES, frozenset())
    ):
        platform.close()


@pytest.fixture(scope="session")
def shared_platform(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedPlatform]:
    """The session's (an xdist worker's) `railyard dev` for the modules that take `dev`: starting and
    stopping one costs ~5 s of CPU and 10-20 s of a worker's time. Tests stay apart as they did
    within a module: each uses its own project and service names (hostnames derive from them), and
    a worker runs one test at a time."""
    platform = SharedPlatform(lambda: tmp_path_factory.mktemp("railyard-home"))
    pytestconfig.stash[_SHARED_PLATFORM] = platform
    try:
        yield platform
    finally:
        platform.close()


@pytest.fixture(scope="module")
def dev(shared_platform: SharedPlatform) -> Dev:
    """The default platform's handles (a module that needs other settings starts its own under this
    name: `running_dev`)."""
    return shared_platform.dev()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_server() -> Iterator[int]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield port
    server.stop()


@pytest.fixture(scope="session")
def moto_store(moto_server: int) -> MotoStore:
    """The session's moto server as a store: emptied, or kept bootstrapped between tests
    (tests/support/moto_store.py)."""
    return MotoStore(f"http://127.0.0.1:{moto_server}")


@pytest.fixture
def aws_env(moto_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """AWS env pointed at the session's moto server, whose state is what the previous test left:
    a test takes `aws` (empty) or a fixture that asks `moto_store` for a bootstrapped one."""
    from chalicelib.adapters.aws import reset_clients

    base = f"http://127.0.0.1:{moto_server}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": base,
        "MOTO_PORT": str(moto_server),
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "RAILYARD_STAGE": "test",
        "RAILYARD_DATA_DIR": str(tmp_path / "data"),
        "RAILYARD_PUBLIC_URL": "http://{hostname}.localhost:8080",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset_clients()
    yield moto_server
    reset_clients()


@pytest.fixture
def aws(aws_env: int, moto_store: MotoStore) -> int:
    """AWS env pointed at the session's moto server, with empty state and Step Functions executing."""
    moto_store.empty()
    return aws_env
