# flagkit developer commands. `make test` and `make demo` work on a fresh machine with python3, pip and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/flagkit demo examples/features.yaml

lint: $(STAMP)
	$(BIN)/ruff check flagkit tests benchmarks examples
	$(BIN)/ruff format --check flagkit tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.bench_eval
	$(BIN)/python -m benchmarks.bench_load
	$(BIN)/python -m benchmarks.bench_reload
	$(BIN)/python -m benchmarks.bench_validate
	$(BIN)/python -m benchmarks.bench_parity

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
