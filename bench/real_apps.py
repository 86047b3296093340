"""Real apps on the local platform: how many go live per language, and cold and warm build times.

Every directory `bench/real_apps/<language>/<app>/` is a small app written the way people write them
(Flask with requirements.txt, FastAPI with pyproject.toml, Express with a lockfile, pnpm, Yarn
Berry and bun through `packageManager`, a Node version in `engines`, a Staticfile, a start.sh, a
worker that never opens a port, a job that exits 0). An app's optional `bench.json` says what it
is: {"kind": "web"} (the default), "worker" or "job", and for a web app what its answer must contain
({"expect": "node v22."}: the toolchain it asked for, not the host's).

The platform runs as `railyard dev` (bench/dev_platform.py); each app gets a project and:
1. a cold deployment (`noCache`): time from the API's 201 to the deployment's end;
2. a warm deployment of the same app with one source file changed (dependency inputs unchanged).
An app is live when its deployment succeeded and — for a web app — the router answers 200 for its
host; a job is live when it completed. Installs fetch from the package registries (PyPI, npm), as a
user's build would; nothing else is contacted. Arguments, if any, name the apps to run (`bun-app`
or `node/bun-app`); none runs all of them. Prints a table per language and writes
bench/real_apps.json when it ran them all (with each failure's last log lines, so a miss says why).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dev_platform import forget_platform, start_platform, stop_platform
from platform_api import Api, get, pack

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "bench" / "real_apps"
DEPLOY_SECONDS = 600  # a cold install from the registries can be slow; the bench stops by itself
LIVE = {"web": ("SUCCESS",), "worker": ("SUCCESS",), "job": ("SUCCESS", "COMPLETED")}


def apps(only: list[str]) -> list[tuple[str, str, Path]]:
    every = [
        (language.name, app.name, app)
        for language in sorted(p for p in APPS.iterdir() if p.is_dir())
        for app in sorted(p for p in language.iterdir() if p.is_dir())
    ]
    chosen = [a for a in every if not only or a[1] in only or f"{a[0]}/{a[1]}" in only]
    if len(chosen) < len(only):
        raise SystemExit(f"unknown app among {only}; known: {[f'{a[0]}/{a[1]}' for a in every]}")
    return chosen


def declared(app: Path) -> dict[str, str]:
    path = app / "bench.json"
    return {"kind": "web", **(json.loads(path.read_text()) if path.exists() else {})}


def timed_deploy(
    api: Api, service_id: str, tarball: bytes, *, no_cache: bool
) -> tuple[dict[str, Any], float]:
    deployment_id, accepted = api.deploy(service_id, tarball, no_cache=no_cache)
    done = api.wait(deployment_id, timeout=DEPLOY_SECONDS)
    return done, time.perf_counter() - accepted


def serves(router_port: int, hostname: str, expect: str) -> str | None:
    """None when the router answers 200 with `expect` in the body; else what it answered."""
    status, body = 0, b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = get(router_port, f"{hostname}.localhost")
        if status == 200 and expect.encode() in body:
            return None
        time.sleep(0.2)
    return f"the router answered {status}: {body[:200]!r}"


def log_tail(api: Api, deployment_id: str, lines: int = 8) -> list[str]:
    try:
        body = api.call("GET", f"/v1/deployments/{deployment_id}/logs")
    except Exception as error:  # the bench reports a miss; a log read never stops it
        return [f"(logs unavailable: {error})"]
    entries = body.get("lines") or body.get("logs") or []
    return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in entries][-lines:]


def run_app(api: Api, router_port: int, language: str, name: str, app: Path) -> dict[str, Any]:
    expected = declared(app)
    kind = expected["kind"]
    service = api.service(f"{language}-{name}"[:40], name="app")
    result: dict[str, Any] = {"language": language, "app": name, "kind": kind}
    cold, cold_seconds = timed_deploy(api, service["id"], pack(app), no_cache=True)
    result["cold_status"], result["cold_seconds"] = cold["status"], round(cold_seconds, 2)
    miss = None
    if kind == "web" and cold["status"] in LIVE[kind]:
        miss = serves(router_port, service["hostname"], expected.get("expect", ""))
    result["live"] = live = cold["status"] in LIVE[kind] and miss is None
    if not live:
        result["log_tail"] = [miss] if miss else log_tail(api, cold["id"])
        return result
    changed = pack(app, {"BENCH_TOUCH.txt": str(time.time())})  # a source-only change
    warm, warm_seconds = timed_deploy(api, service["id"], changed, no_cache=False)
    result["warm_status"], result["warm_seconds"] = warm["status"], round(warm_seconds, 2)
    if warm["status"] not in LIVE[kind]:
        result["warm_log_tail"] = log_tail(api, warm["id"])
    return result


def summary(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_language: dict[str, dict[str, Any]] = {}
    for language in sorted({r["language"] for r in results}):
        rows = [r for r in results if r["language"] == language]
        live = [r for r in rows if r["live"]]
        cold = [r["cold_seconds"] for r in live]
        warm = [r["warm_seconds"] for r in live if r.get("warm_status") in LIVE[r["kind"]]]
        by_language[language] = {
            "live": len(live),
            "apps": len(rows),
            "cold_seconds_median": round(statistics.median(cold), 2) if cold else None,
            "warm_seconds_median": round(statistics.median(warm), 2) if warm else None,
        }
    return by_language


def main(only: list[str]) -> int:
    chosen = apps(only)
    home = Path(tempfile.mkdtemp(prefix="railyard-real-apps-"))
    dev, state = start_platform(home)
    results = []
    try:
        api = Api(state["api_url"], json.loads((home / "config.json").read_text())["token"])
        for language, name, app in chosen:
            result = run_app(api, state["router_port"], language, name, app)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        stop_platform(dev)
    table = summary(results)
    print(f"\n{'language':10} {'live':>7} {'cold (median s)':>16} {'warm (median s)':>16}")
    for language, row in table.items():
        print(
            f"{language:10} {row['live']:>3}/{row['apps']:<3} "
            f"{row['cold_seconds_median'] or '-':>16} {row['warm_seconds_median'] or '-':>16}"
        )
    if not only:  # a run of some apps does not overwrite the report of all of them
        report = {"languages": table, "apps": results}
        (ROOT / "bench" / "real_apps.json").write_text(json.dumps(report, indent=2) + "\n")
    forget_platform(home)
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
