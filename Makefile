# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
# Everything goes into ./.venv; nothing is installed globally (except Chromium via
# apt for the browser tests, when the machine lets us).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

## Set up and start the web UI on SQLite in ./instance with the decks in ./decks.
run: $(VENV)/.installed
	$(BIN)/flashcards serve

## Set up and run the whole test suite (lint, types, unit, database, web, browser, Anki interop).
test: $(VENV)/.installed-test
	@scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/flashcards check decks/
	$(BIN)/pytest -n 2 -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check flashcards || true
	$(BIN)/mypy

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
