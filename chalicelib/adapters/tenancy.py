"""Who a local build or app runs as, in which directories, with which environment (the local
platform's tenant isolation: docs/decisions/0019-local-tenant-isolation.md, docs/security.md).

`Tenancy` owns, for `railyard dev`:
- the tenant root: the directories user code works in (`releases/`, `builds/`, `homes/`). With
  isolation on it lies outside the data directory (a fresh `mkdtemp` whose path is recorded in the
  data dir), because the data dir's parents (`/root/.railyard`, pytest's tmp) are 0700 and a
  process of another uid cannot even reach a path below them; the data dir itself is 0700;
- one identity per service: a uid (= gid) in [UID_BASE, UID_BASE + UID_SPAN), derived from the
  service id and recorded in `<data dir>/uids.json` (0600) so that it never changes, and a private
  HOME (`homes/<digest of the service id>`, 0700, owned by that uid). With isolation off (the platform is not
  root) the identity is the platform's own user and only HOME and the environment change;
- the environment user code starts from: an allow-list (`user_env`), never the platform's own;
- handing a tree the platform wrote (an unpacked release, an extracted source) over to a uid;
- the network each process group starts in (`launch`): with isolation and where the host allows,
  an app's replicas, pre-deploy and cron commands each get their own network namespace
  (netns.py), reached by the router at its address and reaching nothing of the host but the
  exposed ports (the router's, loopback package registries and DNS resolver: `expose`); builds,
  and everything where namespaces are refused, run in the host's namespace under the network
  guard (netguard.py), which then keeps service uids off every other local port (namespaces) or
  off each other's PORT (the fallback);
- a private TMPDIR per service (inside its HOME), so unix sockets and temporary files are not in
  a directory every tenant shares. Its path is kept short (a digest, not the service id, names the
  HOME): a unix socket's path has at most 107 bytes, and apps bind theirs in TMPDIR.

Process-wide, like process_groups: `configure` once in the composition of the local platform;
without it the local runtime and builder use `Tenancy.shared(data_dir)` (no isolation, the tenant
root is the data dir itself), which is what their own tests want.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib.adapters.netguard import TABLE_PREFIX, NetGuard
from chalicelib.adapters.netns import Enclosures, Launch

logger = logging.getLogger(__name__)

UID_BASE = 200_000
UID_SPAN = 1_000_000
# Host settings user code may see (toolchain and locale configuration, proxies, CA bundles). The
# platform's own variables (AWS_*, RAILYARD_*, MOTO_PORT, PYTHONPATH ...) are not among them.
_HOST_NAMES = frozenset(
    {
        "LANG",
        "LANGUAGE",
        "TZ",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    }
)
_HOST_PREFIXES = ("LC_", "PIP_", "NPM_CONFIG_", "npm_config_")
# Platform settings naming package registries builds use (besides the PIP_*/NPM_CONFIG_* above).
_REGISTRY_SETTING_SUFFIXES = ("_REGISTRY", "_REGISTRY_URL", "_INDEX_URL")
_UMASK = 0o077  # what user code creates is its own
_DNS_PORT = 53
_ENCLOSURE_PREFIX = "ry"  # + the platform key: the platform's app interfaces (netns.py)
_ROOT_RECORD = "tenant-root"  # in the data dir: the path of the tenant root
_UIDS_RECORD = "uids.json"

_current: Tenancy | None = None


HOME_NAME_LENGTH = 16  # 64 bits: distinct per service on one platform


@dataclass(frozen=True)
class Identity:
    """What one service's builds and processes run as."""

    service_id: str
    uid: int | None  # None: the platform's own user (isolation off)
    home: Path

    @property
    def spawn_kwargs(self) -> dict[str, Any]:
        """subprocess.Popen arguments: the uid, its own group and no other, a private umask."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.uid, "extra_groups": [], "umask": _UMASK}

    @property
    def tmp(self) -> Path:
        return self.home / "tmp"


def configure(tenancy: Tenancy | None) -> None:
    global _current
    _current = tenancy


def current(data_dir: str | Path) -> Tenancy:
    """The configured tenancy, or a non-isolating one over `data_dir`."""
    return _current if _current is not None else Tenancy.shared(Path(data_dir))


class Tenancy:
    def __init__(
        self,
        root: Path,
        data_dir: Path,
        isolate: bool,
        guard: NetGuard | None = None,
        enclosures: Enclosures | None = None,
    ) -> None:
        self.root = root
        self.data_dir = data_dir
        self.isolate = isolate
        self.guard = guard
        self.enclosures = enclosures  # None: every process in the host's network namespace
        self._lock = threading.Lock()
        self._identities: dict[str, Identity] = {}
        for name in ("releases", "builds", "homes"):
            path = root / name
            path.mkdir(parents=True, exist_ok=True)
            if isolate:
                # Working directories (an app's, a build's) lie below releases/ and builds/, and
                # every directory above a working directory must be readable by its uid: runtimes
                # walk up from it (bun before 1.3.12 starts with an empty process.env when it
                # cannot list two of them, oven-sh/bun#28785). Listing them shows release and
                # deployment ids; each entry is `private_dir`, which only its service may enter.
                # HOMEs are nobody's working directory: others pass through, not list.
                os.chmod(path, 0o711 if name == "homes" else 0o755)

    @classmethod
    def shared(cls, data_dir: Path) -> Tenancy:
        return cls(data_dir, data_dir, isolate=False)

    @classmethod
    def for_platform(cls, data_dir: Path) -> Tenancy:
        """Isolating when this process is root; otherwise says, once, that isolation is off."""
        if os.geteuid() != 0:
            logger.warning(
                "tenant isolation is OFF: the platform is not root, so builds and apps run as this "
                "user and can read each other's files and processes (docs/security.md)"
            )
            return cls.shared(data_dir)
        os.chmod(data_dir, 0o700)
        enclosures, why_not = Enclosures.start(enclosure_prefix(data_dir))
        prefix = enclosures.prefix if enclosures is not None else None
        guard = NetGuard.start(guard_table(data_dir), prefix)
        if enclosures is not None and guard is None:
            enclosures, why_not = None, "nft refused the enclosing table"
        if enclosures is None:
            logger.warning(
                "app network namespaces are OFF (%s): only the port the platform gives an app is "
                "guarded; its other ports, UDP and abstract unix sockets are reachable by other "
                "tenants (docs/security.md)",
                why_not,
            )
        tenancy = cls(_tenant_root(data_dir), data_dir, isolate=True, guard=guard, enclosures=enclosures)
        for port, address in _loopback_endpoints(os.environ, Path("/etc/resolv.conf")).items():
            tenancy.expose(port, address)
        return tenancy

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    def close(self) -> None:
        """After every build and app stopped: the guard's table goes, and with isolation the tenant
        root too (unpacked releases, HOMEs: nothing the next start cannot make again), so no
        tenant's code or files stay readable in the temporary directory."""
        if self.guard is not None:
            self.guard.close()
        if self.isolate:
            remove_tenant_root(self.data_dir)

    def identity(self, service_id: str) -> Identity:
        with self._lock:
            found = self._identities.get(service_id)
            if found is None:
                uid = self._uid(service_id) if self.isolate else None
                if uid is not None and self.guard is not None:
                    self.guard.admit(uid)
                home = self.root / "homes" / home_name(service_id)
                found = Identity(service_id, uid, home)
                for private in (home, found.tmp):
                    private.mkdir(mode=0o700, exist_ok=True)
                    if uid is not None:
                        os.chown(private, uid, uid)
                        os.chmod(private, 0o700)
                self._identities[service_id] = found
            return found

    def _uid(self, service_id: str) -> int:
        """The service's recorded uid, or a new one: derived from the id, the next free on a clash."""
        record = self.data_dir / _UIDS_RECORD
        uids: dict[str, int] = json.loads(record.read_text()) if record.exists() else {}
        if service_id in uids:
            return int(uids[service_id])
        taken = set(uids.values())
        offset = int(hashlib.sha256(service_id.encode()).hexdigest(), 16) % UID_SPAN
        while UID_BASE + offset in taken:
            offset = (offset + 1) % UID_SPAN
        uids[service_id] = UID_BASE + offset
        partial = record.with_suffix(".partial")
        partial.write_text(json.dumps(uids, indent=1, sort_keys=True))
        os.chmod(partial, 0o600)
        os.replace(partial, record)
        return uids[service_id]

    def user_env(self, identity: Identity) -> dict[str, str]:
        """The environment user code starts from; callers add PORT, the plan's and the user's."""
        env = {k: v for k, v in os.environ.items() if k in _HOST_NAMES or k.startswith(_HOST_PREFIXES)}
        env["PATH"] = self.user_path()
        env["HOME"] = str(identity.home)
        env["TMPDIR"] = str(identity.tmp)  # not the /tmp every tenant shares
        return env

    def user_path(self) -> str:
        """The platform's PATH without its own virtualenv's bin (an app must never run the
        platform's python or its packages' scripts); with isolation, only the directories another
        uid can reach."""
        entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
        if sys.prefix != sys.base_prefix:
            own = os.path.realpath(os.path.join(sys.prefix, "bin"))
            entries = [entry for entry in entries if os.path.realpath(entry or ".") != own]
        if self.isolate:
            entries = [entry for entry in entries if _reachable_by_others(entry)]
        return os.pathsep.join(entries)

    def hand_over(self, path: Path | str, identity: Identity) -> None:
        """Gives a tree the platform wrote to the service's uid, top directory 0700."""
        if identity.uid is None:
            return
        uid = identity.uid
        os.chown(path, uid, uid)
        os.chmod(path, 0o700)
        for parent, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(parent, name), uid, uid)

    def private_dir(self, path: Path | str, identity: Identity) -> None:
        """A directory of the platform's under the tenant root (a release's, a build's) that only
        `identity`'s uid may list and enter, and not write: its working directory is inside, and
        must have readable parents (see __init__)."""
        if not self.isolate:
            return
        if identity.uid is None:
            os.chmod(path, 0o711)
            return
        os.chown(path, 0, identity.uid)  # gid = uid: the service's own group, and no one else's
        os.chmod(path, 0o750)

    def claim_port(self, identity: Identity, port: int) -> None:
        """Only `identity`'s processes may connect to `port` (besides the platform itself)."""
        if self.guard is not None and identity.uid is not None:
            self.guard.claim(port, identity.uid)

    def expose(self, port: int, address: str = "127.0.0.1") -> None:
        """User code may reach the host's `address`:`port` (a loopback address): the router, a
        registry, a DNS resolver. Namespaces opened from now on see it at their own 127.0.0.1."""
        if self.guard is not None:
            self.guard.expose(port, address)
        if self.enclosures is not None:
            self.enclosures.expose([port])

    @contextlib.contextmanager
    def launch(self, identity: Identity) -> Iterator[Launch]:
        """How to start one of `identity`'s app process groups: in a namespace of its own when
        the platform encloses apps (start it inside the block), else in the host's."""
        if self.enclosures is None or identity.uid is None:
            yield Launch(popen=identity.spawn_kwargs)
            return
        with self.enclosures.open() as enclosure:
            yield enclosure.launch(identity.uid, _UMASK)


def guard_table(data_dir: Path) -> str:
    """The name of the platform's netfilter table (netguard.py): one per data directory."""
    return TABLE_PREFIX + platform_key(data_dir)


def enclosure_prefix(data_dir: Path) -> str:
    """The name prefix of the platform's app interfaces (netns.py): one per data directory."""
    return _ENCLOSURE_PREFIX + platform_key(data_dir)[:8]


def platform_key(data_dir: Path) -> str:
    return hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]


def _loopback_endpoints(environ: Mapping[str, str], resolv_conf: Path) -> dict[int, str]:
    """port -> loopback address user code legitimately needs: package registries and proxies on
    this host named by the settings builds see (or a platform registry setting), and a DNS
    resolver on loopback (systemd-resolved's 127.0.0.53)."""
    found: dict[int, str] = {}
    for name, value in environ.items():
        passed = name in _HOST_NAMES or name.startswith(_HOST_PREFIXES)
        if not (passed or (name.startswith("RAILYARD_") and name.endswith(_REGISTRY_SETTING_SUFFIXES))):
            continue
        for word in value.split():
            with contextlib.suppress(ValueError):
                url = urlsplit(word)
                if url.hostname and _is_loopback(url.hostname):
                    port = url.port or (443 if url.scheme == "https" else 80)
                    found.setdefault(port, "127.0.0.1" if url.hostname == "localhost" else url.hostname)
    with contextlib.suppress(OSError):
        for line in resolv_conf.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver" and _is_loopback(parts[1]):
                found.setdefault(_DNS_PORT, parts[1])
                break
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


def _tenant_root(data_dir: Path) -> Path:
    """The recorded tenant root if it is still ours (a real directory, root's, 0755 or the 0711 of
    earlier versions), else a new one: a fixed, guessable name under /tmp could be taken first by
    another user. 0755: its entries are the fixed names releases/, builds/ and homes/, and the
    working directories below must have readable parents (Tenancy.__init__)."""
    record = data_dir / _ROOT_RECORD
    with contextlib.suppress(OSError):
        root = Path(record.read_text().strip())
        info = os.lstat(root)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and stat.S_IMODE(info.st_mode) in (0o711, 0o755):
            os.chmod(root, 0o755)
            return root
    parent = Path(tempfile.gettempdir())
    if not _reachable_by_others(str(parent)):
        raise RuntimeError(f"tenant isolation: {parent} (TMPDIR) must be reachable by other users")
    root = Path(tempfile.mkdtemp(prefix="railyard-tenants-", dir=parent))
    os.chmod(root, 0o755)
    record.write_text(str(root))
    return root


def remove_tenant_root(data_dir: Path) -> None:
    """The tenant root recorded in `data_dir`, if any (`--fresh`, a clean stop)."""
    import shutil

    with contextlib.suppress(OSError):
        root = Path((data_dir / _ROOT_RECORD).read_text().strip())
        if root.name.startswith("railyard-tenants-") and os.lstat(root).st_uid == os.geteuid():
            shutil.rmtree(root, ignore_errors=True)
        (data_dir / _ROOT_RECORD).unlink()


def _reachable_by_others(path: str) -> bool:
    """Every directory from / to `path` lets others search it (o+x)."""
    current_path = Path(path)
    if not current_path.is_absolute():
        return False
    for part in [current_path, *current_path.parents]:
        try:
            mode = os.stat(part).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def home_name(service_id: str) -> str:
    """HOME's directory name: a digest, not the id (service ids carry their place and are up to 57
    characters; a socket path in TMPDIR must stay under 108 bytes with room for its own name)."""
    return hashlib.sha256(service_id.encode()).hexdigest()[:HOME_NAME_LENGTH]
