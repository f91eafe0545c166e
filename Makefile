# finpipe — the README's commands. Only Python 3.11+ (and make) are needed on the machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.finpipe-installed
PYTEST_ARGS ?=
# Tests run on both cores by default (pytest-xdist); PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2

MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt/models dbt/macros -type f 2>/dev/null) dbt/dbt_project.yml dbt/profiles.yml

.PHONY: demo test test-fast ui lint bench docs clean

# The environment is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "finpipe needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The dbt manifest the Dagster code location loads; re-parsed when the dbt project changes.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/dbt parse --quiet --project-dir dbt --profiles-dir dbt
	@touch $(MANIFEST)

## demo: set everything up and run the main job end to end on the embedded default
demo: $(STAMP) $(MANIFEST)
	$(BIN)/finpipe demo

## test: set everything up and run the whole test suite (what CI runs)
test: $(STAMP) $(MANIFEST)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## test-fast: the suite without the slow end-to-end tests
test-fast: $(STAMP) $(MANIFEST)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

## ui: the Dagster UI (webserver + daemon) on the same local instance as the demo
ui: $(STAMP) $(MANIFEST)
	$(BIN)/finpipe ui

lint: $(STAMP)
	$(BIN)/ruff check finpipe finpipe_tests
	$(BIN)/ruff format --check finpipe finpipe_tests

## bench: the performance benchmarks (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python finpipe_tests/benchmarks/run_all.py

## docs: regenerate the warehouse table reference (docs/tables.md)
docs: $(STAMP)
	$(BIN)/finpipe warehouse docs --write docs/tables.md

clean:
	rm -rf $(VENV) .finpipe dbt/target dbt/logs
