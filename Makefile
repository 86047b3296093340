# Railyard: `make demo` and `make test` are all a fresh machine needs.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Node tools (package.json: the pinned CDK CLI, statelint, DynamoDB Local's jar).
NODE_STAMP := node_modules/.installed
# LocalStack runs on the host only under Python 3.13, in a venv of its own (localstack/install.sh).
LOCALSTACK_STAMP := .venv-localstack/.installed
# The Lambda bundle's wheels (chalice packages offline from here: tools/synth.py --warm, ADR 0015).
WHEELHOUSE_STAMP := build/wheelhouse/.installed
# The dashboard (dashboard/, a Next.js static export served by `railyard dev` at /dashboard/: ADR 0041):
# its node_modules from its own lockfile, then the export, rebuilt when a source file changes.
DASHBOARD_NODE_STAMP := dashboard/node_modules/.installed
DASHBOARD_STAMP := dashboard/out/.built
DASHBOARD_SOURCES := $(shell find dashboard/app dashboard/components dashboard/lib -type f 2>/dev/null) \
	dashboard/next.config.mjs dashboard/tsconfig.json
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install demo dev test lint typecheck synth dashboard-test unit bench clean isolation-tools browser-tools screenshots

install: $(STAMP) $(NODE_STAMP) $(LOCALSTACK_STAMP) $(WHEELHOUSE_STAMP) $(DASHBOARD_STAMP) isolation-tools browser-tools

# nftables, iproute2 and nsenter for the local platform's per-app network namespaces and guard
# (docs/security.md), when root on Debian/Ubuntu.
isolation-tools:
	@if command -v nft >/dev/null && command -v ip >/dev/null && command -v nsenter >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && apt-get install -y -q --no-install-recommends nftables iproute2 util-linux; \
	else echo "nft, ip or nsenter is missing: local apps are not isolated from each other's ports (docs/security.md)"; fi

# Debian's chromium for the dashboard's browser tests (tests/browser/, driven by Playwright with this
# executable: no browser is downloaded from anywhere else), when root on Debian/Ubuntu.
browser-tools:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; \
	else echo "chromium is missing: the dashboard's browser tests are skipped (tests/browser/)"; fi

$(DASHBOARD_NODE_STAMP): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(DASHBOARD_NODE_STAMP)

$(DASHBOARD_STAMP): $(DASHBOARD_NODE_STAMP) $(DASHBOARD_SOURCES)
	cd dashboard && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build && node scripts/js-size.mjs
	touch $(DASHBOARD_STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "pip<26.3"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(NODE_STAMP)

$(LOCALSTACK_STAMP): localstack/install.sh localstack/requirements.txt
	bash localstack/install.sh

$(WHEELHOUSE_STAMP): requirements.txt $(STAMP) $(NODE_STAMP)
	$(PY) tools/synth.py --warm

# Starts the platform on embedded moto, deploys examples/hello-python and prints its URL; Ctrl-C stops.
demo: install
	$(VENV)/bin/railyard dev --demo

dev: install
	$(VENV)/bin/railyard dev

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy chalicelib functions railyard app.py stacks tools

# Offline: every CDK stack synthesized, cfn-lint clean, every ASL file through statelint, and the SAM
# template `chalice package` writes linted too (tools/synth.py).
synth: install
	$(PY) tools/synth.py

# typecheck, synth and the dashboard's component tests side by side: mypy checks one module at a
# time, and its cold run (~20 s of CPU: kubernetes and the aws_cdk modules stacks/ uses too; its cache
# is in build/) would leave the other core idle.
# Then three workers, a module each at a time (the end-to-end and fault modules that take `dev` share
# one platform per worker): most of a platform test's time is waiting on subprocesses, so 3 fit on 2
# cores. Modules go out in collection order, the slowest first (tests/conftest.py).
test: install lint
	$(MAKE) --no-print-directory -j 3 -O typecheck synth dashboard-test
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder

# The dashboard's component tests (Vitest, ~3 s), beside typecheck and synth in `make test`.
dashboard-test: install
	cd dashboard && npx --no-install vitest run

# The README's pictures of the dashboard, taken by its browser tests (tests/browser/).
screenshots: install
	RAILYARD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(VENV)/bin/pytest -q -p no:cacheprovider tests/browser

bench: install
	$(PY) bench/run.py
	$(PY) bench/builds.py
	$(PY) bench/api_latency.py
	$(PY) bench/dashboard_load.py
	$(PY) bench/live_logs.py
	$(PY) bench/api_calls.py
	$(PY) bench/cost.py
	$(PY) bench/real_apps.py

clean:
	rm -rf $(VENV) .venv-localstack node_modules cdk.out build .mypy_cache .ruff_cache .pytest_cache
	rm -rf dashboard/node_modules dashboard/.next dashboard/out
