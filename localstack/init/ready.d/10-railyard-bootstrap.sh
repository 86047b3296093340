#!/usr/bin/env bash
# LocalStack runs this once it is ready (/etc/localstack/init/ready.d in its container; see
# localstack/docker-compose.yml and docs/localstack.md): it creates every resource of Railyard's
# catalogue with the project's own bootstrap (`python -m railyard.localdev.bootstrap`), the code
# `railyard dev` runs, so both targets hold the same table, buckets, bus, rules, queues and state
# machines.
#
# RAILYARD_SRC     the repository (mounted read-only at /opt/railyard by the compose file)
# RAILYARD_PYTHON  an interpreter with the project's requirements; by default a venv made on first
#                  run under LocalStack's volume (it needs PyPI once) and reused after
# AWS_ENDPOINT_URL where LocalStack answers (inside its container: http://localhost:4566)
set -euo pipefail

RAILYARD_SRC="${RAILYARD_SRC:-/opt/railyard}"
if [ -z "${RAILYARD_PYTHON:-}" ]; then
    VENV="${RAILYARD_VENV:-/var/lib/localstack/railyard-venv}"
    if [ ! -f "$VENV/.installed" ] || [ "$RAILYARD_SRC/requirements.txt" -nt "$VENV/.installed" ]; then
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$RAILYARD_SRC/requirements.txt"
        touch "$VENV/.installed"
    fi
    RAILYARD_PYTHON="$VENV/bin/python"
fi

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export RAILYARD_ACCOUNT_ID="${RAILYARD_ACCOUNT_ID:-000000000000}"  # LocalStack's default account

cd "$RAILYARD_SRC"
PYTHONPATH="$RAILYARD_SRC${PYTHONPATH:+:$PYTHONPATH}" "$RAILYARD_PYTHON" -m railyard.localdev.bootstrap >/dev/null
echo "railyard: catalogue bootstrapped on $AWS_ENDPOINT_URL (stage ${RAILYARD_STAGE:-dev})"
