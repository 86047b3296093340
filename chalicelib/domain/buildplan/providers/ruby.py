"""The Ruby provider: a Gemfile; Rails, Rack (config.ru) and Sinatra apps get a start command."""

from __future__ import annotations

import re

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles, Runtime
from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.buildplan.versions import stated_version

DEFAULT_VERSION = "3.3"
RUNTIME = Runtime(DEFAULT_VERSION, "ruby:{v}", "ruby:{v}", "ruby")


class RubyProvider(DetectedByFiles):
    name = "ruby"
    label = "Ruby"
    detect_files = ("Gemfile",)
    start_help = "config/application.rb (Rails), config.ru (Rack), app.rb with sinatra"
    runtime = RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        gemfile = reader.read("Gemfile")
        gems = {m.lower() for m in re.findall(r"^\s*gem\s+['\"]([^'\"]+)['\"]", gemfile, re.M)}
        locked = reader.exists("Gemfile.lock")
        # Gems go inside the app (vendor/bundle) so the artifact carries them; development and test
        # groups are not installed. BUNDLE_FROZEN = `bundle install` fails if the lockfile is stale.
        bundle_env = {"BUNDLE_PATH": "vendor/bundle", "BUNDLE_WITHOUT": "development:test"}
        env = {**bundle_env, **({"BUNDLE_FROZEN": "true"} if locked else {})}
        runtime_env = {"BUNDLE_PATH": "{app}/vendor/bundle", "BUNDLE_WITHOUT": "development:test"}
        build: tuple[str, ...] = ()
        start = ""
        if reader.exists("config/application.rb") or "rails" in gems:
            env["RAILS_ENV"] = "production"
            runtime_env |= {
                "RAILS_ENV": "production",
                "RAILS_LOG_TO_STDOUT": "1",
                "RAILS_SERVE_STATIC_FILES": "1",
            }
            if "assets/" in reader.list_dir("app"):
                # The dummy secret lets assets compile without the production secret at build time.
                build = ("SECRET_KEY_BASE_DUMMY=1 bundle exec rails assets:precompile",)
            start = "bundle exec rails db:migrate && bundle exec rails server -b 0.0.0.0 -p $PORT"
        elif reader.exists("config.ru"):
            start = "bundle exec rackup -p $PORT -o 0.0.0.0"
        elif "sinatra" in gems:
            entry = reader.first("app.rb", "main.rb", "server.rb")
            if entry is not None:
                start = f"bundle exec ruby {entry} -o 0.0.0.0 -p $PORT"
        return BuildPlan(
            provider=self.name,
            install=("bundle install",),
            build=build,
            start_command=start,
            runtime_env=runtime_env,
            language_version=_version(reader, gemfile),
            env=env,
            deps_inputs=("Gemfile", *reader.existing("Gemfile.lock", ".ruby-version")),
            deps_dirs=("vendor/bundle",),
        )


def _version(reader: Reader, gemfile: str) -> str:
    if reader.exists(".ruby-version"):
        pinned = reader.read(".ruby-version").strip().removeprefix("ruby-")
        if pinned:
            return pinned
    return stated_version(gemfile, r"^\s*ruby\s+['\"][~>=< ]*([\d.]+)['\"]", DEFAULT_VERSION)
