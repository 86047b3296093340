#!/usr/bin/env bash
set -euo pipefail
mkdir -p site && echo "shell says hello" > site/index.html
exec python3 -m http.server "$PORT" --bind 0.0.0.0 --directory site
