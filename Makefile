# Two entry points (see README): `make demo` and `make test`. Everything installs into .venv,
# with torch pinned by constraints.txt (the library itself only asks for torch>=2.2).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: install test lint typecheck pytest browser demo demo-causal clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[dev,demo]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# The README's demo command: a real model update (paraphrase-MiniLM-L3-v2 -> all-MiniLM-L6-v2 with LoRA
# classifier adapters on Rotten Tomatoes), gated by pytest, fixed by `muscle-guard fix`, gated again.
demo: install
	$(BIN)/python -m muscle_guard.demo.run

# The causal-LM scenario: SmolLM2-135M-Instruct -> Gemma-3-270M (different tokenizers) on sarcasm headlines as
# multiple choice, fixed with `--strategy auto` (choice-level MUSCLE). Slower: two causal LMs on the CPU.
demo-causal: install
	$(BIN)/python -m muscle_guard.demo.causal

lint: install
	$(BIN)/ruff check muscle_guard tests bench plugins
	$(BIN)/ruff format --check muscle_guard tests bench plugins

typecheck: install
	$(BIN)/mypy
	cd plugins/muscle-guard-llamacpp && $(abspath $(BIN))/mypy

# Headless Chromium (Debian's package) for the HTML report's browser tests; where it cannot be installed
# (not root, no apt) those tests are skipped with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser tests will be skipped"

pytest: install browser
	$(BIN)/python -m pytest -n 2 -q

# The README's test command: set up, lint, type-check, test.
test: lint typecheck pytest

clean:
	rm -rf $(VENV) .muscle-cache .pytest_cache .mypy_cache .ruff_cache
