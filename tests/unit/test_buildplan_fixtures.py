"""One test per fixture app under tests/fixtures/builds: the plan Railyard derives from real-shaped
sources (only the files detection reads; lockfiles are placeholders because plans are inspected,
never run).

Each test names the fixture it plans; `test_every_fixture_has_a_test` keeps the fixtures and the
tests of every test_buildplan_fixtures*.py module in step.
"""

from __future__ import annotations

from chalicelib.domain.buildplan import DeployConfig
from chalicelib.domain.buildplan.providers.python.managers import UV_VERSION
from tests.support.build_fixtures import plan, untested_fixtures

VENV = "python3 -m venv --copies .venv"
PIP = ".venv/bin/python -m pip install --disable-pip-version-check --no-input -q"
NODE_PATH = {"PATH": "{app}/node_modules/.bin:{PATH}"}
PYTHON_PATH = {"PATH": "{app}/.venv/bin:{PATH}", "VIRTUAL_ENV": "{app}/.venv"}
SERVE = "python3 -m http.server $PORT --bind 127.0.0.1"
GO_CACHES = ("~/go/pkg/mod", "~/.cache/go-build")


def test_every_fixture_has_a_test() -> None:
    assert untested_fixtures() == []


# --- node ---------------------------------------------------------------------------------------


def test_node_npm() -> None:
    result = plan("node-npm")

    assert (result.provider, result.language_version) == ("node", "20")  # engines ">=18"
    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.build == ("npm run build",)
    assert result.start_command == "npm start"
    assert result.deps_inputs == ("package.json", "package-lock.json")
    assert result.deps_dirs == ("node_modules",)
    assert result.cache_dirs == ("~/.npm",)
    assert result.runtime_env == NODE_PATH


def test_node_pnpm_from_package_manager_field_and_nvmrc() -> None:
    result = plan("node-pnpm")

    assert (result.provider, result.language_version) == ("node", "22.2.0")
    assert result.install == ("pnpm install --frozen-lockfile",)  # no corepack: pnpm is provided
    assert result.build == ()
    assert result.start_command == "pnpm start"
    assert result.deps_inputs == ("package.json", "pnpm-lock.yaml", ".nvmrc")
    assert result.cache_dirs == ("~/.local/share/pnpm/store",)


def test_node_yarn1_with_node_version_file() -> None:
    result = plan("node-yarn1")

    assert result.language_version == "18.20.3"
    assert result.install == ("yarn install --frozen-lockfile",)
    assert result.build == ("yarn build",)
    assert result.start_command == "yarn start"
    assert result.deps_inputs == ("package.json", "yarn.lock", ".node-version")
    assert result.cache_dirs == ("~/.cache/yarn",)


def test_node_yarn_berry() -> None:
    result = plan("node-yarn-berry")

    assert result.install == ("yarn install --immutable",)  # no corepack: yarn is provided
    assert result.start_command == "yarn start"
    assert result.env == {"YARN_NODE_LINKER": "node-modules"}
    assert result.deps_inputs == ("package.json", "yarn.lock", ".yarnrc.yml")
    assert result.deps_dirs == ("node_modules", ".yarn/install-state.gz")
    assert result.cache_dirs == ("~/.yarn/berry/cache",)


def test_node_bun() -> None:
    result = plan("node-bun")

    assert result.install == ("bun install --frozen-lockfile",)
    assert result.start_command == "bun run start"
    assert result.deps_inputs == ("package.json", "bun.lockb")
    assert result.cache_dirs == ("~/.bun/install/cache",)


def test_node_workspaces_install_at_the_root_keyed_by_every_member_manifest() -> None:
    result = plan("node-workspaces")

    assert result.install == ("npm ci --no-audit --no-fund",)  # the root declares no dependencies
    assert result.build == ("npm run build",)
    assert result.start_command == "npm start"
    assert result.deps_inputs == (
        "package.json",
        "package-lock.json",
        "packages/ui/package.json",
        "packages/utils/package.json",
        "apps/web/package.json",
    )
    assert "apps/api/package.json" not in result.files_read  # not a workspace member


def test_node_vite_spa_serves_its_out_dir() -> None:
    result = plan("node-vite-spa")

    assert result.build == ("npm run build",)
    assert result.start_command == f"cd www && {SERVE}"  # build.outDir from vite.config.ts
    assert "vite.config.ts" in result.files_read


def test_node_create_react_app_ignores_its_dev_server_start_script() -> None:
    result = plan("node-cra")

    assert result.install == ("yarn install --frozen-lockfile",)
    assert result.build == ("yarn build",)
    assert result.start_command == f"cd build && {SERVE}"


def test_node_angular_serves_the_application_builders_browser_dir() -> None:
    result = plan("node-angular")

    assert result.build == ("npm run build",)
    assert result.start_command == f"cd dist/shop/browser && {SERVE}"
    assert "angular.json" in result.files_read


def test_node_astro_static() -> None:
    result = plan("node-astro-static")

    assert result.build == ("npm run build",)
    assert result.start_command == f"cd dist && {SERVE}"


def test_node_astro_server_with_node_adapter() -> None:
    result = plan("node-astro-server")

    assert result.install == ("pnpm install --frozen-lockfile",)  # no corepack: pnpm is provided
    assert result.build == ("pnpm run build",)
    assert result.start_command == "node ./dist/server/entry.mjs"


def test_node_next_without_start_script() -> None:
    result = plan("node-next")

    assert result.build == ("pnpm run build",)
    assert result.start_command == "pnpm exec next start -p $PORT"
    assert result.cache_dirs == ("~/.local/share/pnpm/store", ".next/cache")
    # No version asked for: the toolchain step provides the default pnpm (corepack is not used).
    assert result.tools["pnpm"] == "9"
    assert "pnpm: no version asked for; providing pnpm 9" in result.notes


def test_node_nuxt() -> None:
    result = plan("node-nuxt")

    assert result.build == ("npm run build",)
    assert result.start_command == "node .output/server/index.mjs"


def test_node_remix_uses_its_start_script() -> None:
    result = plan("node-remix")

    assert result.build == ("npm run build",)
    assert result.start_command == "npm start"  # remix-serve ./build/server/index.js


def test_node_sveltekit_node_adapter_with_bun() -> None:
    result = plan("node-sveltekit")

    assert result.install == ("bun install --frozen-lockfile",)
    assert result.build == ("bun run build",)
    assert result.start_command == "node build"
    assert result.deps_inputs == ("package.json", "bun.lock")


def test_node_prisma_local_package_and_patches_key_the_dependency_layer() -> None:
    result = plan("node-prisma-local")

    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.start_command == "npm start"
    # What the install reads beyond the manifests: patch-package's patches, the `file:` package
    # npm copies in, and the schema `prisma generate` (postinstall) reads; migrations are not read.
    assert result.deps_inputs == (
        "package.json",
        "package-lock.json",
        "patches/express+4.19.2.patch",
        "packages/shared/package.json",
        "packages/shared/src/index.js",
        "prisma/schema.prisma",
    )
    assert result.files_read == ("package.json", "package-lock.json")


# --- python -------------------------------------------------------------------------------------


def test_python_pip_flask_with_runtime_txt_and_included_requirements() -> None:
    result = plan("python-pip-flask")

    assert (result.provider, result.language_version) == ("python", "3.12.3")
    assert result.install == (VENV, f"{PIP} -r requirements.txt")
    assert result.start_command == "python3 -m gunicorn app:application --bind 0.0.0.0:$PORT"
    assert result.deps_inputs == ("requirements.txt", "requirements-base.txt", "runtime.txt")
    assert result.deps_dirs == (".venv",)
    assert result.cache_dirs == ("~/.cache/pip",)
    assert result.runtime_env == PYTHON_PATH


def test_python_local_editable_package_and_nested_requirements() -> None:
    result = plan("python-local-packages")

    assert result.install == (VENV, f"{PIP} -r requirements.txt")
    # flask comes from the included requirements/base.txt
    assert result.start_command == "python3 -m gunicorn app:app --bind 0.0.0.0:$PORT"
    assert result.deps_inputs == (
        "requirements.txt",
        "requirements/base.txt",
        "libs/billing/billing/__init__.py",
        "libs/billing/pyproject.toml",
    )
    assert result.deps_dirs == (".venv",)


def test_python_poetry_fastapi() -> None:
    result = plan("python-poetry-fastapi")

    assert result.language_version == "3.11"  # python = "^3.10"
    assert result.install == (
        VENV,
        f"{PIP} --target .railyard/tools poetry poetry-plugin-export",
        "PYTHONPATH=.railyard/tools .venv/bin/python -m poetry export --without-hashes --format "
        "requirements.txt --output .railyard/tools/requirements.txt",
        f"{PIP} -r .railyard/tools/requirements.txt",
        "rm -rf .railyard/tools",
    )
    assert result.runtime_env == PYTHON_PATH
    assert result.start_command == "python3 -m uvicorn main:app --host 0.0.0.0 --port $PORT"
    assert result.deps_inputs == ("pyproject.toml", "poetry.lock")


def test_python_uv_with_python_version_file() -> None:
    result = plan("python-uv")

    assert result.language_version == "3.12"
    # uv itself goes into the venv (apps call `uv run`), then syncs the venv from the lockfile;
    # fastapi[standard] brings uvicorn, so nothing is added to the install.
    assert result.install == (
        VENV,
        f"{PIP} uv=={UV_VERSION}",  # pinned: one declared version
        "UV_PROJECT_ENVIRONMENT=.venv UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy .venv/bin/uv sync "
        "--frozen --no-dev --inexact --no-editable --no-install-project",
    )
    assert result.runtime_env == {**PYTHON_PATH, "UV_NO_SYNC": "1"}
    assert result.cache_dirs == ("~/.cache/uv",)
    assert result.start_command == "python3 -m uvicorn main:app --host 0.0.0.0 --port $PORT"
    assert result.deps_inputs == ("pyproject.toml", "uv.lock", ".python-version")


def test_python_pdm_version_from_requires_python_upper_bound() -> None:
    result = plan("python-pdm")

    assert result.language_version == "3.10"  # >=3.9,<3.11
    assert result.install[:2] == (VENV, f"{PIP} --target .railyard/tools pdm")
    assert ".venv/bin/python -m pdm export --prod --without-hashes" in result.install[2]
    assert result.install[3] == f"{PIP} -r .railyard/tools/requirements.txt"
    assert result.start_command == "python3 main.py"
    assert result.deps_inputs == ("pyproject.toml", "pdm.lock")


def test_python_pipenv_flask_without_gunicorn_adds_it() -> None:
    result = plan("python-pipenv")

    assert result.language_version == "3.11"  # [requires] python_version
    assert result.install[2] == (
        "PYTHONPATH=.railyard/tools .venv/bin/python -m pipenv requirements "
        "> .railyard/tools/requirements.txt"
    )
    assert result.install[3] == f"{PIP} -r .railyard/tools/requirements.txt gunicorn"
    assert result.start_command == "python3 -m gunicorn main:app --bind 0.0.0.0:$PORT"
    assert result.deps_inputs == ("Pipfile", "Pipfile.lock")


def test_python_plain_pyproject_installs_declared_dependencies() -> None:
    result = plan("python-pyproject")

    assert result.install == (VENV, f"{PIP} 'discord.py>=2.3' python-dotenv")
    assert result.start_command == "python3 main.py"
    assert result.deps_inputs == ("pyproject.toml",)


def test_python_django_migrates_then_serves_wsgi() -> None:
    result = plan("python-django")

    assert result.install == (VENV, f"{PIP} -r requirements.txt")
    assert result.start_command == (
        "python3 manage.py migrate --noinput && python3 -m gunicorn mysite.wsgi --bind 0.0.0.0:$PORT"
    )
    assert "mysite/wsgi.py" in result.files_read


def test_python_procfile_web_line_wins() -> None:
    result = plan("python-procfile")

    assert result.provider == "python"
    assert result.start_command == "python3 -m http.server $PORT"
    assert result.install == (VENV, f"{PIP} -r requirements.txt")


def test_procfile_worker_alone_starts_the_worker() -> None:
    # A Discord-bot-style service: no manifest, no web process; `release` is never the service.
    result = plan("procfile-worker")

    assert result.provider == "procfile"
    assert result.start_command == "python3 discord_bot.py"  # worker beats clock; release never
    assert result.install == ()


# --- go -----------------------------------------------------------------------------------------


def test_go_root_main_package_named_after_the_module() -> None:
    result = plan("go-simple")

    assert (result.provider, result.language_version) == ("go", "1.22.3")
    assert result.install == ("go mod download",)
    assert result.build == ("go build -o bin/hello .",)  # github.com/acme/hello/v2
    assert result.start_command == "./bin/hello"
    assert result.env == {"CGO_ENABLED": "0"}
    assert result.deps_inputs == ("go.mod", "go.sum")
    assert result.cache_dirs == GO_CACHES


def test_go_cmd_dirs_prefer_the_server() -> None:
    result = plan("go-cmd")

    assert result.language_version == "1.21"
    assert result.build == ("go build -o bin/server ./cmd/server",)
    assert result.start_command == "./bin/server"


def test_go_workspace_builds_the_module_with_a_main_package() -> None:
    result = plan("go-workspace")

    assert result.install == (
        "cd api && GOWORK=off go mod download",
        "cd shared && GOWORK=off go mod download",
    )
    assert result.build == ("go build -o bin/api ./api",)
    assert result.start_command == "./bin/api"
    assert result.deps_inputs == ("api/go.mod", "shared/go.mod", "go.work")


# --- rust ---------------------------------------------------------------------------------------


def test_rust_bin_target_name() -> None:
    result = plan("rust-bin")

    assert (result.provider, result.language_version) == ("rust", "1.78")
    assert result.install == ("cargo fetch",)
    assert result.build == ("cargo build --release",)
    assert result.start_command == "./target/release/server"
    assert result.deps_inputs == ("Cargo.toml", "Cargo.lock")
    assert result.deps_dirs == ("target",)
    assert result.cache_dirs == ("~/.cargo/registry", "~/.cargo/git")


def test_rust_workspace_builds_the_member_with_a_binary() -> None:
    result = plan("rust-workspace")

    assert result.language_version == "1.79.0"  # rust-toolchain.toml
    assert result.build == ("cargo build --release --package web",)
    assert result.start_command == "./target/release/web"
    assert result.deps_inputs == (
        "Cargo.toml",
        "crates/core/Cargo.toml",
        "crates/web/Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
    )


# --- ruby ---------------------------------------------------------------------------------------


def test_ruby_rails() -> None:
    result = plan("ruby-rails")

    assert (result.provider, result.language_version) == ("ruby", "3.3.1")  # Gemfile `ruby`
    assert result.install == ("bundle install",)
    assert result.build == ("SECRET_KEY_BASE_DUMMY=1 bundle exec rails assets:precompile",)
    assert result.start_command == (
        "bundle exec rails db:migrate && bundle exec rails server -b 0.0.0.0 -p $PORT"
    )
    assert result.env["BUNDLE_FROZEN"] == "true"
    assert result.runtime_env["BUNDLE_PATH"] == "{app}/vendor/bundle"
    assert result.runtime_env["RAILS_ENV"] == "production"
    assert result.deps_inputs == ("Gemfile", "Gemfile.lock")
    assert result.deps_dirs == ("vendor/bundle",)


def test_ruby_rack() -> None:
    result = plan("ruby-rack")

    assert result.language_version == "3.2.4"  # .ruby-version "ruby-3.2.4"
    assert result.build == ()
    assert result.start_command == "bundle exec rackup -p $PORT -o 0.0.0.0"
    assert result.deps_inputs == ("Gemfile", "Gemfile.lock", ".ruby-version")


def test_ruby_sinatra_without_config_ru() -> None:
    result = plan("ruby-sinatra")

    assert result.language_version == "3.3"
    assert result.start_command == "bundle exec ruby app.rb -o 0.0.0.0 -p $PORT"
    assert "BUNDLE_FROZEN" not in result.env  # no Gemfile.lock to hold it to


# --- php ----------------------------------------------------------------------------------------


def test_php_laravel_builds_its_front_end_with_node() -> None:
    result = plan("php-laravel")

    assert (result.provider, result.language_version) == ("php", "8.3")  # "^8.2"
    assert result.install == (
        "composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader",
        "npm ci --no-audit --no-fund",
    )
    assert result.build == ("npm run build",)
    assert result.start_command == "php artisan serve --host 0.0.0.0 --port $PORT"
    assert result.deps_inputs == ("composer.json", "composer.lock", "package.json", "package-lock.json")
    assert result.deps_dirs == ("vendor", "node_modules")


def test_php_vanilla_serves_public() -> None:
    result = plan("php-vanilla")

    assert result.start_command == "php -S 0.0.0.0:$PORT -t public"
    assert result.deps_inputs == ("composer.json",)
    assert result.cache_dirs == ("~/.cache/composer",)


# --- staticfile, shell, Dockerfile --------------------------------------------------------------


def test_static_root() -> None:
    result = plan("static-root")

    assert (result.provider, result.commands, result.start_command) == ("staticfile", (), SERVE)


def test_static_public() -> None:
    assert plan("static-public").start_command == f"cd public && {SERVE}"


def test_staticfile_root_directive() -> None:
    result = plan("static-staticfile")

    assert result.provider == "staticfile"
    assert result.start_command == f"cd site && {SERVE}"


def test_shell_start_script_with_bash_shebang() -> None:
    result = plan("shell-start")

    assert (result.provider, result.commands, result.start_command) == ("shell", (), "bash start.sh")


def test_dockerfile_present_wins_and_keeps_the_image_cmd() -> None:
    result = plan("dockerfile-present")

    assert (result.provider, result.dockerfile, result.start_command) == ("dockerfile", "Dockerfile", "")
    assert result.commands == ()


def test_dockerfile_from_config_path() -> None:
    result = plan("dockerfile-configured")

    assert (result.provider, result.dockerfile) == ("dockerfile", "docker/web.Dockerfile")
    assert result.start_command == "node server.js"
    assert result.config_files == ("railway.json",)
    assert result.deploy.healthcheck_path == "/health"


# --- config as code -----------------------------------------------------------------------------


def test_railway_toml_overrides_build_start_and_deploy() -> None:
    result = plan("config-railway-toml")

    assert result.provider == "node"  # builder RAILPACK: the Dockerfile is ignored
    assert result.dockerfile is None
    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.build == ("npm run build:prod",)
    assert result.start_command == "node dist/main.js"  # config beats the Procfile and npm start
    assert result.watch_patterns == ("src/**", "package.json")
    assert result.config_files == ("railway.toml",)
    assert result.deploy == DeployConfig(
        start_command="node dist/main.js",
        pre_deploy_command="(\nnpm run migrate\n) && (\nnpm run seed\n)",
        healthcheck_path="/healthz",
        healthcheck_timeout=120.0,
        restart_policy_type="ALWAYS",
        num_replicas=2,
    )


def test_railyard_toml_layers_over_railway_json_per_environment() -> None:
    production = plan("config-railyard-environments")
    staging = plan("config-railyard-environments", environment="staging")

    assert production.config_files == ("railway.json", "railyard.toml")
    assert production.start_command == "python3 main.py"
    assert (production.deploy.num_replicas, production.deploy.draining_seconds) == (3, 5.0)
    assert production.deploy.cron_schedule == "*/5 * * * *"
    assert staging.start_command == "python3 main.py --staging"
    assert (staging.deploy.num_replicas, staging.deploy.cron_schedule) == (1, None)
    # The service setting still beats config as code.
    assert plan("config-railyard-environments", "python3 other.py").start_command == "python3 other.py"
