# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := iotsim_tui tests $(wildcard benchmarks)

.PHONY: run test check lint typecheck layers pytest bench clean

run: $(STAMP)
	$(BIN)/iotsim-tui $(ARGS)

test: check pytest

check: lint typecheck layers

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy --strict iotsim_tui

# The import rules in pyproject.toml's [tool.importlinter]: textual only in the app, layers down.
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

# Four workers on two cores: most tests wait on real brokers, terminals and sockets, not the CPU.
# PYTEST_ARGS="-n 0 ..." runs them one at a time.
pytest: $(STAMP)
	$(BIN)/pytest -n 4 $(PYTEST_ARGS)

# Benchmarks are not tests: each writes its own section of docs/performance.md.
bench: $(STAMP)
	for script in benchmarks/[a-z]*.py; do $(BIN)/python $$script || exit 1; done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
