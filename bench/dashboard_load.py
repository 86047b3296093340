"""`make bench`: how fast the dashboard's project page loads, and how much JavaScript it ships.

The platform runs as `railyard dev` (its own RAILYARD_HOME in a temp dir) serving the built export
(`make install`) at /dashboard/; the browser is Debian's headless `chromium` driven by Playwright, as
in tests/browser/. One project with three services (cards) is made through the API. Each of LOADS
runs opens a new browser context (empty cache, as a first visit), with a session already in the
tab's storage, and times (by the page's own clock) from navigation start to the first frame with
every service card showing its status: the page's
HTML and JavaScript plus the API calls it makes (the project, its environments' services, each
service's last deployment). Target (issue 13): median <= 1000 ms on this machine, and <= 250 kB of
gzipped JavaScript (dashboard/scripts/js-size.mjs). Writes bench/dashboard_load.json; exits non-zero
on a FAIL. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from dev_platform import forget_platform, start_platform, stop_platform

ROOT = Path(__file__).resolve().parents[1]
LOADS = int(os.environ.get("BENCH_LOADS", "15"))
SERVICES = 3
TARGET_MS = 1000.0
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CARDS_SHOWN = "n => document.querySelectorAll('li.card [data-status]').length >= n && performance.now()"


def _project(api_url: str, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{api_url}/v1/projects", json={"name": "bench-dash"}, headers=auth, timeout=30)
    created.raise_for_status()
    environment_id = created.json()["environments"][0]["id"]
    for index in range(SERVICES):
        requests.post(
            f"{api_url}/v1/environments/{environment_id}/services",
            json={"name": f"web-{index}"},
            headers=auth,
            timeout=30,
        ).raise_for_status()
    return str(created.json()["project"]["id"])


def _loads(api_url: str, token: str, project_id: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    session = json.dumps({"accessToken": token})
    url = f"{api_url}/dashboard/project/?id={project_id}"
    timings: list[float] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for _ in range(LOADS):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_init_script(f"sessionStorage.setItem('railyard.session', {json.dumps(session)})")
                page = context.new_page()
                page.goto(url, wait_until="commit")
                # The page's own clock (ms since navigation start), read on the first animation
                # frame that has every card's status: the driver's own latency is not counted.
                shown = page.wait_for_function(CARDS_SHOWN, arg=SERVICES, polling="raf", timeout=30_000)
                timings.append(float(shown.json_value()))
                context.close()
        finally:
            browser.close()
    return timings


def _js_size() -> tuple[bool, str]:
    """Within budget, and the script's line saying how much (it exits non-zero above the budget)."""
    size = subprocess.run(
        ["node", "scripts/js-size.mjs"], cwd=ROOT / "dashboard", capture_output=True, text=True, check=False
    )
    return size.returncode == 0, size.stdout.strip() or size.stderr.strip()


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-dash-"))
    dev, state = start_platform(home)
    try:
        token = json.loads((home / "config.json").read_text())["token"]
        project_id = _project(state["api_url"], token)
        timings = _loads(state["api_url"], token, project_id)
    finally:
        stop_platform(dev)
    load_average = os.getloadavg()[0]  # the figure means little on a machine busy with other work
    median = statistics.median(timings)
    worst = max(timings)
    js_ok, js = _js_size()
    passed = median <= TARGET_MS and js_ok
    print(
        f"project page, first load to {SERVICES} cards ({LOADS} cold loads): "
        f"median {median:.0f} ms, max {worst:.0f} ms (load average {load_average:.1f})"
    )
    print(js)
    print(
        f"{'PASS' if passed else 'FAIL'}  median {median:.0f} ms <= {TARGET_MS:.0f} ms,"
        " JavaScript within budget"
    )
    results = {
        "loads": LOADS,
        "services": SERVICES,
        "median_ms": round(median, 1),
        "max_ms": round(worst, 1),
        "js": js,
        "load_average": round(load_average, 1),
    }
    (ROOT / "bench" / "dashboard_load.json").write_text(json.dumps(results, indent=2) + "\n")
    forget_platform(home)
    shutil.rmtree(home, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
