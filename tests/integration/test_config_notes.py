"""What the config files say that Railyard does not apply reaches the user: the local build
runner's log has one line per ignored key and per warning, and `railyard plan` prints the same
lines (and `--json` carries them)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest
from railyard import cli
from tests.fakes import FakeBlobStore, FakeLog
from tests.support.tarballs import small_source

FIXTURES = Path(__file__).parent.parent / "fixtures" / "railway_configs"
# A dashboard export plus a Railway template's [variables] table, over an app that needs no install.
FILES = {
    "railway.json": (FIXTURES / "dashboard-export.railway.json").read_text(),
    "railway.toml": '[build]\nbuilder = "railpack"\n\n[variables]\nRAILS_ENV = "production"\n',
    "Procfile": "web: python3 -m http.server $PORT\n",
    "index.html": "ok\n",
}
NOTES = [
    "config: ignoring build.buildEnvironment (Railyard has one kind of builder)",
    "config: ignoring deploy.runtime (Railyard has no equivalent)",
    "config: ignoring deploy.limitOverride (set cpuLimitMillis and memoryLimitMb in the service settings)",
    "config: ignoring deploy.sleepApplication (Railyard does not sleep services)",
    "config: ignoring deploy.useLegacyStacker (Railyard has no equivalent)",
    "config: railway.toml: ignoring the top-level table [variables] (not part of Railway's config schema; "
    "set variables with `railyard variables set`)",
]


def test_the_local_build_log_has_a_line_per_ignored_key_and_warning(tmp_path: Path) -> None:
    blobs = FakeBlobStore()
    blobs.put_bytes(
        "sources", "src/a.tar.gz", small_source({name: text.encode() for name, text in FILES.items()})
    )
    log = FakeLog()
    request = BuildRequest(
        deployment_id="dep_1",
        service_id="svc_1",
        source_key="src/a.tar.gz",
        settings=ServiceSettings(build_timeout=60.0),
        variables={},
    )

    LocalBuildRunner(str(tmp_path / "data"), blobs, "sources", "artifacts").build(request, log, lambda: None)

    start = log.lines.index("build: start command: python start_railway.py")
    assert log.lines[start + 1 : start + 1 + len(NOTES)] == NOTES


def test_railyard_plan_prints_the_notes_and_its_json_carries_them(tmp_path: Path) -> None:
    for name, content in FILES.items():
        (tmp_path / name).write_text(content)

    text = CliRunner().invoke(cli.app, ["plan", str(tmp_path)])
    as_json = CliRunner().invoke(cli.app, ["plan", str(tmp_path), "--json"])

    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    assert text.stdout.splitlines()[-len(NOTES) :] == NOTES
    plan = json.loads(as_json.stdout)
    assert plan["ignored_keys"] == [note.split()[2] for note in NOTES[:-1]]
    assert plan["warnings"] == [NOTES[-1].removeprefix("config: ")]
    deploy = plan["deploy"]
    assert deploy["num_replicas"] == 1 and deploy["restart_policy_type"] == "ON_FAILURE"
