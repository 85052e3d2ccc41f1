# flagkit developer commands. `make test` and `make demo` work on a fresh machine with python3, pip and make,
# from a clone at any path (long, with spaces, non-ASCII: .ci/run checks it). Paths are quoted, and tools run as
# `$(PY) -m tool`, never through a console script whose shebang holds the (possibly spaced) venv path.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := "$(BIN)/python"
STAMP := $(VENV)/.installed-dev
CONSTRAINTS := constraints-dev.txt

.PHONY: demo docs test lint typecheck pytest bench bench-fleet bench-integrations lock clean

$(BIN)/python:
	$(PYTHON) -m venv "$(VENV)"
	$(PY) -m pip install -q --upgrade pip

# A .venv made before the distribution was renamed (flagkit -> pyflagkit) still holds the old
# editable install of this same package: remove it so only one distribution owns `flagkit`.
UNINSTALL_OLD := $(PY) -m pip uninstall -y -q flagkit >/dev/null 2>&1 || true

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(UNINSTALL_OLD)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e .
	touch "$@"

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(UNINSTALL_OLD)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch "$@" "$(VENV)/.installed"

demo: $(VENV)/.installed
	$(PY) -m flagkit demo examples/features.yaml

docs: $(VENV)/.installed  ## regenerate the command output shown in docs/cli.md
	$(PY) -m tests.cli_docs

lint: $(STAMP)
	$(PY) -m ruff check flagkit tests benchmarks examples
	$(PY) -m ruff format --check flagkit tests benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_eval
	$(PY) -m benchmarks.bench_load
	$(PY) -m benchmarks.bench_memory
	$(PY) -m benchmarks.bench_reload
	$(PY) -m benchmarks.bench_validate
	$(PY) -m benchmarks.bench_parity
	@echo "(the fleet benchmark, 50 processes against real nginx and redis-server: make bench-fleet)"

# Not part of `make bench` (needs the otel and openfeature extras): cost of the OpenTelemetry hook and the OpenFeature provider.
bench-integrations: $(STAMP)
	$(PY) -m benchmarks.bench_integrations

# Not part of `make bench`: starts nginx, redis-server and 50 worker processes on 127.0.0.1 (2-10 min on a busy 2-core machine).
bench-fleet: $(STAMP)
	$(PY) -m benchmarks.bench_fleet --workers 50 --interval 5 --idle 30

# Refresh constraints-dev.txt from the newest releases the dev extra allows (in a scratch venv).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e ".[dev]"
	head -4 $(CONSTRAINTS) > $(CONSTRAINTS).new
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -iv '^pyflagkit' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf "$(VENV)" .mypy_cache .ruff_cache .pytest_cache build dist
