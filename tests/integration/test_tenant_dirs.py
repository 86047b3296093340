"""The tenant root's directories as a service's processes see them (chalicelib/adapters/tenancy.py).

An app's or a build's working directory lies below releases/ or builds/. Runtimes walk up from their
working directory and list every directory on the way; bun before 1.3.12 then starts with an empty
process.env (no PORT: a web app listens on a random port and is taken for a worker) when it cannot
list two of them (oven-sh/bun#28785). So every directory above a working directory is listable by
the service that works there, and a release's or build's directory by no other service.
Real uids (the tenancy is isolating, as `railyard dev` run by root is); no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.tenancy import Identity, Tenancy

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="tenant isolation needs root"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs a python every uid may run"),
]

# Lists each directory given as the uid it runs as; prints {path: "listed" | the error's name}.
LISTER = (
    "import json, os, sys\n"
    "out = {}\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n"
    "        os.listdir(path)\n"
    "        out[path] = 'listed'\n"
    "    except OSError as error:\n"
    "        out[path] = type(error).__name__\n"
    "print(json.dumps(out))\n"
)


@pytest.fixture
def tenancy(tmp_path: Path) -> Iterator[Tenancy]:
    # Where the platform puts it: a fresh directory in TMPDIR (pytest's own tmp is 0700, root's).
    root = Path(tempfile.mkdtemp(prefix="railyard-tenants-test-"))
    os.chmod(root, 0o755)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    try:
        yield Tenancy(root, data_dir, isolate=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def listed_by(identity: Identity, *paths: Path) -> dict[str, str]:
    assert identity.uid is not None
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", LISTER, *map(str, paths)],
        user=identity.uid,
        group=identity.uid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd="/",
    )
    return dict(json.loads(done.stdout))


def working_dir(tenancy: Tenancy, parent: Path, name: str, identity: Identity) -> Path:
    """A release's or build's directory and the service's working directory inside it, made as
    the local runtime and builder make them."""
    outer = parent / name
    outer.mkdir()
    tenancy.private_dir(outer, identity)
    inner = outer / "app"
    inner.mkdir()
    tenancy.hand_over(inner, identity)
    return inner


@pytest.mark.parametrize("where", ["releases", "builds"])
def test_a_service_lists_every_directory_above_its_working_directory(tenancy: Tenancy, where: str) -> None:
    # GIVEN service a's working directory (an unpacked release, a build's source)
    owner = tenancy.identity("svc_a")
    app = working_dir(tenancy, tenancy.root / where, "rel_or_dep_1", owner)

    # WHEN a process of service a lists every directory from / down to it
    ancestors = [app, *app.parents]
    seen = listed_by(owner, *ancestors)

    # THEN it lists each one, as a runtime walking up from its working directory does
    assert seen == {str(path): "listed" for path in ancestors}


@pytest.mark.parametrize("where", ["releases", "builds"])
def test_another_service_neither_lists_nor_enters_a_release_or_build(tenancy: Tenancy, where: str) -> None:
    # GIVEN service a's working directory
    app = working_dir(tenancy, tenancy.root / where, "rel_or_dep_1", tenancy.identity("svc_a"))

    # WHEN service b lists a's release (or build) directory and a's working directory
    seen = listed_by(tenancy.identity("svc_b"), app.parent, app)

    # THEN it can do neither
    assert seen == {str(app.parent): "PermissionError", str(app): "PermissionError"}


def test_an_app_binds_a_unix_socket_in_its_tmpdir_whatever_the_length_of_its_service_id(
    tenancy: Tenancy,
) -> None:
    # GIVEN a service whose id has the longest form (it carries its workspace, project and
    # environment: chalicelib/domain/ids.py), on a tenant root where the platform makes it
    service_id = "svc_" + "0123456789abcdefghjkmnpqrstvwxyz0123456789abcdefghjkm"  # 57
    identity = tenancy.identity(service_id)
    socket_path = identity.tmp / "app-server-listening-here.sock"

    # WHEN the app binds a unix socket in its TMPDIR, as servers and databases do
    bind = "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1]); print('bound')"
    assert identity.uid is not None
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", bind, str(socket_path)],
        user=identity.uid,
        group=identity.uid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )

    # THEN it binds (a socket path has at most 107 bytes: the HOME's name must not be the id)
    assert done.stdout.strip() == "bound", done.stderr
