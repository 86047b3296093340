"""Unit tests of the build planner over an in-memory source tree."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from chalicelib.domain.buildplan import LOOKED_FOR, BuildPlan, plan_build
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from tests.support.source_tree import DictTree

VENV = "python3 -m venv --copies .venv"
PIP = ".venv/bin/python -m pip install --disable-pip-version-check --no-input -q"


def plan(files: dict[str, str], override: str | None = None) -> BuildPlan:
    return plan_build(DictTree(files), override)


def package(**fields: object) -> str:
    return json.dumps(fields)


# --- python -------------------------------------------------------------------------------------


def test_python_requirements_installs_into_deps_and_starts_main() -> None:
    result = plan({"requirements.txt": "flask==3.0.0\n", "main.py": "", "app.py": ""})

    assert result.provider == "python"
    assert result.install == (VENV, f"{PIP} -r requirements.txt")
    assert result.build == ()
    assert result.start_command == "python3 main.py"
    assert result.runtime_env == {"PATH": "{app}/.venv/bin:{PATH}", "VIRTUAL_ENV": "{app}/.venv"}
    assert result.files_read == ("requirements.txt", "main.py")


def test_python_requirements_without_requirement_lines_skips_pip() -> None:
    text = "# pinned later\n\n   \n--index-url https://example.invalid/simple  # mirror\n"

    result = plan({"requirements.txt": text, "app.py": ""})

    assert result.install == ()
    assert result.start_command == "python3 app.py"


def test_python_requirements_include_counts_as_requirement() -> None:
    result = plan({"requirements.txt": "-r base.txt\n", "main.py": ""})

    assert result.install == (VENV, f"{PIP} -r requirements.txt")


def test_pyproject_without_requirements_installs_the_project() -> None:
    result = plan({"pyproject.toml": "[project]\nname='x'\n", "main.py": ""})

    assert result.install == (VENV, f"{PIP} .")
    assert result.provider == "python"


def test_python_manifest_wins_over_package_json() -> None:
    result = plan({"requirements.txt": "", "package.json": "{", "main.py": ""})

    assert result.provider == "python"  # the malformed package.json was never read


def test_python_without_entry_point_names_what_was_looked_for() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"requirements.txt": "flask\n"})

    message = str(raised.value)
    for looked_for in ("main.py", "app.py", "Procfile", "railyard service settings", "startCommand"):
        assert looked_for in message


def test_loose_python_file_is_a_python_project() -> None:
    result = plan({"app.py": "print(1)"})

    assert (result.provider, result.install, result.start_command) == ("python", (), "python3 app.py")


# --- node ---------------------------------------------------------------------------------------


def test_node_with_lockfile_uses_npm_ci_and_build_and_start_scripts() -> None:
    manifest = package(
        dependencies={"express": "^4"}, scripts={"build": "tsc", "start": "node dist/index.js"}
    )

    result = plan({"package.json": manifest, "package-lock.json": "{}"})

    assert result.provider == "node"
    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.build == ("npm run build",)
    assert result.start_command == "npm start"
    assert result.runtime_env == {"PATH": "{app}/node_modules/.bin:{PATH}"}
    assert result.files_read == ("package.json", "package-lock.json")


def test_node_without_lockfile_uses_npm_install() -> None:
    result = plan({"package.json": package(devDependencies={"typescript": "5"}, main="lib/a b.js")})

    assert result.install == ("npm install --no-audit --no-fund",)
    assert result.start_command == "node 'lib/a b.js'"


def test_node_without_dependencies_installs_nothing() -> None:
    result = plan({"package.json": package(name="x", dependencies={}), "server.js": ""})

    assert result.install == ()
    assert result.build == ()
    assert result.start_command == "node server.js"


def test_node_prefers_index_js_over_server_js() -> None:
    result = plan({"package.json": "{}", "index.js": "", "server.js": ""})

    assert result.start_command == "node index.js"


def test_malformed_package_json_names_file_line_and_reason() -> None:
    text = '{\n  "name": "x",\n  "scripts": {"build": "tsc",}\n}\n'

    with pytest.raises(BuildFailed) as raised:
        plan({"package.json": text, "index.js": ""})

    assert not isinstance(raised.value, NothingToBuild)
    message = str(raised.value)
    assert "package.json" in message
    assert "line 3" in message
    assert "Expecting property name" in message


def test_package_json_that_is_not_an_object_fails() -> None:
    with pytest.raises(BuildFailed, match=re.escape("package.json must be a JSON object")):
        plan({"package.json": "[]"})


def test_node_without_start_names_what_was_looked_for() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"package.json": package(scripts={"build": "tsc"})})

    assert "scripts.start" in str(raised.value)
    assert "index.js" in str(raised.value)


# --- static -------------------------------------------------------------------------------------


def test_static_site_at_root() -> None:
    result = plan({"index.html": "<h1>hi</h1>"})

    assert result.provider == "staticfile"
    assert result.commands == ()
    assert result.start_command == "python3 -m http.server $PORT --bind 127.0.0.1"


def test_static_site_in_public_serves_from_there() -> None:
    result = plan({"public/index.html": "<h1>hi</h1>", "README.md": ""})

    assert result.provider == "staticfile"
    assert result.start_command == "cd public && python3 -m http.server $PORT --bind 127.0.0.1"


# --- start command precedence -------------------------------------------------------------------


def test_procfile_web_line_wins_over_provider_default() -> None:
    procfile = "# processes\nworker: python3 worker.py\nweb: gunicorn app:app --bind :$PORT\n"

    result = plan({"requirements.txt": "", "main.py": "", "Procfile": procfile})

    assert result.provider == "python"
    assert result.start_command == "gunicorn app:app --bind :$PORT"
    assert "Procfile" in result.files_read


def test_override_wins_over_procfile_and_provider() -> None:
    files = {"package.json": package(scripts={"start": "node a.js"}), "Procfile": "web: node b.js"}

    result = plan(files, override="  node c.js  ")

    assert result.start_command == "node c.js"
    assert result.provider == "node"


def test_only_procfile_is_a_procfile_provider() -> None:
    result = plan({"Procfile": "web: ./serve --port $PORT\n", "serve": ""})

    assert (result.provider, result.commands, result.start_command) == (
        "procfile",
        (),
        "./serve --port $PORT",
    )
    assert result.runtime_env == {}


def test_only_override_is_a_command_provider() -> None:
    result = plan({"run.sh": "#!/bin/sh"}, override="./run.sh")

    assert (result.provider, result.start_command) == ("command", "./run.sh")


def test_blank_override_is_ignored() -> None:
    assert plan({"index.html": ""}, override="   ").provider == "staticfile"


def test_yarn_berry_without_a_lockfile_may_write_one() -> None:
    # Berry turns --immutable on under CI=true, which builds set: it would refuse to create the lock.
    manifest = package(
        packageManager="yarn@4.5.3", dependencies={"ms": "2.1.3"}, scripts={"start": "node s.js"}
    )
    files = {"package.json": manifest}

    result = plan({**files, ".yarnrc.yml": "nodeLinker: node-modules\n"})

    assert result.install == ("yarn install --no-immutable",)
    assert result.tools == {"yarn": "4.5.3"}
    # The lockfile it writes is kept with node_modules: `yarn start` refuses a project its
    # lockfile lacks, so a build that restores the layer instead of installing needs it too.
    assert result.deps_dirs == ("node_modules", ".yarn/install-state.gz", "yarn.lock")


@pytest.mark.parametrize(
    ("procfile", "start"),
    [
        ("release: ./migrate\nworker: ./bot\nweb: ./serve\n", "./serve"),  # web first
        ("release: ./migrate\nclock: ./tick\nworker: ./bot\n", "./bot"),  # else worker
        ("release: ./migrate\nzeta: ./z\nalpha: ./a\n", "./a"),  # else the first by name
    ],
)
def test_procfile_process_is_chosen_as_railway_does(procfile: str, start: str) -> None:
    result = plan({"Procfile": procfile})

    assert (result.provider, result.start_command) == ("procfile", start)


def test_procfile_with_only_a_release_process_is_nothing_to_build() -> None:
    with pytest.raises(NothingToBuild, match="names no process"):
        plan({"Procfile": "release: ./migrate\n"})


def test_procfile_chosen_process_without_command_fails() -> None:
    with pytest.raises(BuildFailed, match="Procfile line 2: `worker:` has no command"):
        plan({"Procfile": "clock: ./tick\nworker:\n"})


def test_procfile_web_without_command_fails() -> None:
    with pytest.raises(BuildFailed, match="Procfile line 1"):
        plan({"Procfile": "web:\n", "main.py": ""})


# --- nothing detected ---------------------------------------------------------------------------


def test_nothing_detected_lists_every_file_looked_for_and_the_fix() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"README.md": "", "src/lib.rs": "", "Procfile": "release: ./w\n"})

    message = str(raised.value)
    for name in LOOKED_FOR:
        assert name in message
    assert "railyard service settings" in message
    assert "settings.startCommand" in message
    assert "names no process" in message
    assert "Found at the top level: Procfile, README.md, src/." in message


def test_nothing_detected_points_at_a_lone_subdirectory() -> None:
    with pytest.raises(NothingToBuild, match="Everything is inside `myapp/`"):
        plan({"myapp/main.py": ""})


def test_nothing_detected_says_when_the_source_is_empty() -> None:
    with pytest.raises(NothingToBuild, match="The source is empty"):
        plan({})


# --- names from the source never become shell syntax --------------------------------------------

HOSTILE = "x;touch pwned $(touch pwned2)"


@pytest.mark.parametrize(
    ("files", "build_words", "start"),
    [
        (  # a Go command directory
            {"go.mod": "module example.com/app\n", f"cmd/{HOSTILE}/main.go": "package main\n"},
            ["go", "build", "-o", f"bin/{HOSTILE}", f"./cmd/{HOSTILE}"],
            f"./bin/{HOSTILE}",
        ),
        (  # a Cargo package name
            {"Cargo.toml": f'[package]\nname = "{HOSTILE}"\n', "src/main.rs": ""},
            ["cargo", "build", "--release"],
            f"./target/release/{HOSTILE}",
        ),
        (  # a Cargo [[bin]] name and a workspace member's package name
            {
                "Cargo.toml": '[workspace]\nmembers = ["api"]\n',
                "api/Cargo.toml": f'[package]\nname = "{HOSTILE}"\n[[bin]]\nname = "b$(id)"\n',
                "api/src/main.rs": "",
            },
            ["cargo", "build", "--release", "--package", HOSTILE],
            "./target/release/b$(id)",
        ),
    ],
)
def test_names_read_from_files_are_single_quoted_words_in_commands(
    files: dict[str, str], build_words: list[str], start: str
) -> None:
    result = plan(files)

    # The shell sees each name as one word, never as `;`, `$(...)` or a second command.
    assert [shlex.split(command) for command in result.build] == [build_words]
    assert shlex.split(result.start_command) == [start]


def test_a_workspace_member_without_a_package_name_fails_naming_its_manifest() -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["api"]\n',
        "api/Cargo.toml": '[[bin]]\nname = "api"\n',
        "api/src/main.rs": "",
    }
    with pytest.raises(BuildFailed, match=re.escape("api/Cargo.toml: [package] name is missing")):
        plan(files)


def test_a_django_wsgi_directory_that_is_not_a_package_name_is_not_served() -> None:
    files = {"requirements.txt": "django\n", "manage.py": "", "a;id/wsgi.py": "", "site/wsgi.py": ""}

    result = plan(files)

    assert "python3 -m gunicorn site.wsgi" in result.start_command


# --- what an install reads keys the dependency layer --------------------------------------------

NPM_LOCK = {"package-lock.json": "{}", "index.js": ""}


@pytest.mark.parametrize(
    ("manifest", "files", "extra_inputs"),
    [
        (  # @prisma/client's postinstall runs `prisma generate`, which reads the schema
            {"dependencies": {"@prisma/client": "5"}, "devDependencies": {"prisma": "5"}},
            {
                "prisma/schema.prisma": "",
                "prisma/migrations/1_init/migration.sql": "",
                "prisma.config.ts": "",
            },
            ("prisma/schema.prisma", "schema.prisma.missing", "prisma.config.ts"),
        ),
        (  # a custom schema location, as a multi-file schema directory
            {"dependencies": {"@prisma/client": "5"}, "prisma": {"schema": "db/schema"}},
            {"db/schema/a.prisma": "", "db/schema/b.prisma": ""},
            ("db/schema/a.prisma", "db/schema/b.prisma"),
        ),
        (  # file:/link:/bare-path dependencies, and a local override; node_modules inside is not content
            {
                "dependencies": {"ui": "file:./packages/ui", "cfg": "link:libs/cfg", "t": "./vendor/t.tgz"},
                "overrides": {"left-pad": {".": "file:forks/left-pad"}},
            },
            {
                "packages/ui/package.json": "",
                "packages/ui/src/index.js": "",
                "packages/ui/node_modules/x/index.js": "",
                "libs/cfg/index.js": "",
                "vendor/t.tgz": "",
                "forks/left-pad/index.js": "",
            },
            (
                "packages/ui/package.json",
                "packages/ui/src/index.js",
                "libs/cfg/index.js",
                "vendor/t.tgz",
                "forks/left-pad/index.js",
            ),
        ),
        (  # patch-package's patches/, pnpm's patchedDependencies, and a script the postinstall runs
            {
                "dependencies": {"a": "1"},
                "scripts": {"postinstall": "patch-package && node ./scripts/post.js --flag"},
                "pnpm": {"patchedDependencies": {"b@1": "fixes/b.patch"}},
            },
            {"patches/a+1.0.0.patch": "", "fixes/b.patch": "", "scripts/post.js": "", "scripts/other.js": ""},
            ("patches/a+1.0.0.patch", "fixes/b.patch", "scripts/post.js"),
        ),
        (  # registry and install configuration
            {"dependencies": {"a": "1"}},
            {".npmrc": "", "bunfig.toml": "", ".pnpmfile.cjs": "", ".yarn/releases/yarn-4.1.0.cjs": ""},
            (".npmrc", "bunfig.toml", ".pnpmfile.cjs", ".yarn/releases/yarn-4.1.0.cjs"),
        ),
    ],
)
def test_node_files_that_install_hooks_read_are_dependency_inputs(
    manifest: dict[str, object], files: dict[str, str], extra_inputs: tuple[str, ...]
) -> None:
    result = plan({"package.json": json.dumps(manifest), **NPM_LOCK, **files})

    expected = [p for p in extra_inputs if not p.endswith(".missing")]
    assert result.deps_inputs[:2] == ("package.json", "package-lock.json")
    assert sorted(result.deps_inputs[2:]) == sorted(expected)
    assert not any("node_modules" in p or "migrations" in p for p in result.deps_inputs)


def test_workspace_members_local_dependencies_resolve_from_the_member() -> None:
    files = {
        "package.json": package(workspaces=["apps/*"]),
        "apps/web/package.json": package(dependencies={"shared": "file:../../shared"}),
        "shared/index.js": "",
        **NPM_LOCK,
    }

    result = plan(files)

    assert "shared/index.js" in result.deps_inputs


@pytest.mark.parametrize(
    "files",
    [
        {"package.json": package(dependencies={"self": "file:."})},  # the whole source
        {  # more files than a key is worth
            "package.json": package(dependencies={"big": "file:big"}),
            **{f"big/f{i}.js": "" for i in range(501)},
        },
    ],
)
def test_a_local_dependency_the_key_cannot_cover_turns_the_layer_off(files: dict[str, str]) -> None:
    result = plan({**files, **NPM_LOCK})

    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.deps_inputs == ()  # never restored from a key that misses what it installed
    assert result.deps_dirs == ("node_modules",)


@pytest.mark.parametrize(
    ("files", "extra_inputs"),
    [
        (  # editable and plain local paths, a local wheel; a VCS URL and a name are not paths
            {
                "requirements.txt": "-e ./libs/a[extra]\n./libs/b ; python_version > '3'\n"
                "dist/c-1.0-py3-none-any.whl\ngit+https://example.com/d.git#egg=d\nflask==3.0\n",
                "libs/a/pyproject.toml": "",
                "libs/a/a/__init__.py": "",
                "libs/a/a/__pycache__/x.pyc": "",
                "libs/b/setup.py": "",
                "dist/c-1.0-py3-none-any.whl": "",
            },
            (
                "libs/a/a/__init__.py",
                "libs/a/pyproject.toml",
                "libs/b/setup.py",
                "dist/c-1.0-py3-none-any.whl",
            ),
        ),
        (  # -r/-c nest, each relative to the file that includes it
            {
                "requirements.txt": "-r requirements/prod.txt\n",
                "requirements/prod.txt": "-r base.txt\n-c ../constraints.txt\n",
                "requirements/base.txt": "--editable=./libs/e\n",
                "constraints.txt": "",
                "libs/e/setup.py": "",
            },
            ("requirements/prod.txt", "requirements/base.txt", "constraints.txt", "libs/e/setup.py"),
        ),
        (  # uv path sources
            {
                "pyproject.toml": '[project]\nname = "x"\ndependencies = ["lib"]\n'
                '[tool.uv.sources]\nlib = { path = "packages/lib" }\n',
                "uv.lock": "",
                "packages/lib/pyproject.toml": "",
            },
            ("packages/lib/pyproject.toml",),
        ),
        (  # poetry path dependencies, in the main table and in a group
            {
                "pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\n'
                'lib = { path = "lib", develop = true }\n'
                '[tool.poetry.group.dev.dependencies]\ntools = [{ path = "tools" }]\n',
                "poetry.lock": "",
                "lib/pyproject.toml": "",
                "tools/setup.py": "",
            },
            ("lib/pyproject.toml", "tools/setup.py"),
        ),
        (  # PDM's project-relative file URLs
            {
                "pyproject.toml": '[project]\nname = "x"\ndependencies = ["lib @ file:///${PROJECT_ROOT}/lib"]\n',
                "pdm.lock": "",
                "lib/pyproject.toml": "",
            },
            ("lib/pyproject.toml",),
        ),
        (  # Pipfile path packages
            {
                "Pipfile": '[packages]\nlib = { path = "./lib", editable = true }\n',
                "Pipfile.lock": "{}",
                "lib/setup.py": "",
            },
            ("lib/setup.py",),
        ),
    ],
)
def test_python_local_path_requirements_are_dependency_inputs(
    files: dict[str, str], extra_inputs: tuple[str, ...]
) -> None:
    result = plan({**files, "main.py": ""})

    assert result.deps_dirs == (".venv",)
    for path in extra_inputs:
        assert path in result.deps_inputs
    assert not any("__pycache__" in p for p in result.deps_inputs)


def test_a_python_requirement_on_the_app_itself_turns_the_layer_off() -> None:
    result = plan({"requirements.txt": "-e .\n", "main.py": ""})

    assert result.install == (VENV, f"{PIP} -r requirements.txt")
    assert result.deps_inputs == ()
    assert result.deps_dirs == (".venv",)


def test_frameworks_in_included_requirements_are_detected() -> None:
    files = {
        "requirements.txt": "-r requirements/base.txt\n",
        "requirements/base.txt": "flask\ngunicorn\n",
        "app.py": "app = Flask(__name__)\n",
    }

    assert plan(files).start_command == "python3 -m gunicorn app:app --bind 0.0.0.0:$PORT"


def test_go_local_replacements_are_dependency_inputs() -> None:
    files = {
        "go.mod": "module example.com/app\n\nreplace example.com/lib => ./lib\n"
        "replace (\n\texample.com/x v1.0.0 => ../outside\n\texample.com/y => ./y // fork\n)\n",
        "go.sum": "",
        "main.go": "package main\n",
        "lib/go.mod": "module example.com/lib\n",
        "y/go.mod": "module example.com/y\n",
    }

    result = plan(files)

    # `go mod download` reads them; an image build that copies only the inputs needs them.
    assert result.deps_inputs == ("go.mod", "go.sum", "lib/go.mod", "y/go.mod")


def test_python_uv_workspace_members_key_the_layer_and_are_installed() -> None:
    # GIVEN a uv workspace whose members live under packages/
    files = {
        "pyproject.toml": (
            '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["shared"]\n'
            '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
            "[tool.uv.sources]\nshared = { workspace = true }\n"
        ),
        "uv.lock": "version = 1\n",
        "packages/shared/pyproject.toml": '[project]\nname = "shared"\nversion = "0.1.0"\n',
        "packages/shared/shared/__init__.py": "X = 1\n",
        "main.py": "import shared\n",
    }
    result = plan(files)

    # THEN uv syncs them into the venv (not editable: nothing points back into the build dir), and
    # a change to a member's files misses the dependency layer
    assert "--no-editable" in result.install[-1] and "--no-install-project" in result.install[-1]
    assert result.deps_inputs == (
        "pyproject.toml",
        "uv.lock",
        "packages/shared/pyproject.toml",
        "packages/shared/shared/__init__.py",
    )
    assert result.deps_dirs == (".venv",)
