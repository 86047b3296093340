# Railyard: `make demo` and `make test` are all a fresh machine needs.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo dev test lint typecheck unit bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "pip<26.3"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(STAMP)

# Starts the platform on embedded moto, deploys examples/hello-python and prints its URL; Ctrl-C stops.
demo: install
	$(VENV)/bin/railyard dev --demo

dev: install
	$(VENV)/bin/railyard dev

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy chalicelib functions railyard app.py

# Three workers, a module each at a time (the end-to-end and fault modules share one platform per
# module): most of a platform test's time is waiting on subprocesses, so 3 fit on 2 cores.
test: install lint typecheck
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 3 --dist loadfile

bench: install
	$(PY) bench/run.py
	$(PY) bench/builds.py
	$(PY) bench/api_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
