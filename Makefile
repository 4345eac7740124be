# Two entry points (see README): `make demo` and `make test`. Everything installs into .venv,
# with torch pinned by constraints.txt (the library itself only asks for torch>=2.2).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: install test lint typecheck pytest demo demo-causal clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check muscle_guard tests bench plugins
	$(BIN)/ruff format --check muscle_guard tests bench plugins

typecheck: install
	$(BIN)/mypy
	cd plugins/muscle-guard-llamacpp && $(abspath $(BIN))/mypy

pytest: install
	$(BIN)/python -m pytest -n 2 -q

# The README's test command: set up, lint, type-check, test.
test: lint typecheck pytest

clean:
	rm -rf $(VENV) .muscle-cache .pytest_cache .mypy_cache .ruff_cache
