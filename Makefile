# Two entry points (see README): `make demo` and `make test`. Everything installs into .venv from the lock file
# requirements.lock (every package pinned, build backend included); `make lock` refreshes it from the ranges in
# pyproject.toml (the library's own, for users) and the development pins in constraints.txt (torch, pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
LOCK := requirements.lock
PIP_TOOLS := pip-tools==7.6.2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt $(LOCK) | cksum | cut -d' ' -f1)

.PHONY: install lock test lint typecheck pytest browser demo demo-causal demo-team clean

$(STAMP): pyproject.toml constraints.txt $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt pip
	$(PIP) install --quiet --no-deps -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m demo.pip_check
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Refresh the lock: resolve pyproject.toml's ranges (with the dev and demo extras and the build backend) against
# constraints.txt, newest versions allowed. torch keeps the plain version (the CPU build here satisfies it).
lock:
	test -x $(VENV)-lock/bin/pip-compile || { $(PYTHON) -m venv $(VENV)-lock && \
	  $(VENV)-lock/bin/python -m pip install --quiet -c constraints.txt pip '$(PIP_TOOLS)'; }
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)-lock/bin/pip-compile --quiet --upgrade --extra dev --extra demo --build-deps-for editable --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links -c constraints.txt -o $(LOCK) pyproject.toml
	sed -i -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' $(LOCK)

# The README's demo command: a real model update (paraphrase-MiniLM-L3-v2 -> all-MiniLM-L6-v2 with LoRA
# classifier adapters on Rotten Tomatoes), gated by pytest, fixed by `muscle-guard fix`, gated again.
demo: install
	$(BIN)/python -m demo.run

# The causal-LM scenario: SmolLM2-135M-Instruct -> Gemma-3-270M (different tokenizers) on sarcasm headlines as
# multiple choice, fixed with `--aim budget` (ensemble distillation at the choice level). Slower: two causal LMs
# on the CPU (about 36 minutes the first time).
demo-causal: install
	$(BIN)/python -m demo.causal

# A team's upgrade: the demo's two bases with two task adapters each (Rotten Tomatoes, sarcasm), gated by one
# pytest run from the model pairs of .muscle-out/team/pyproject.toml.
demo-team: install
	$(BIN)/python -m demo.team

lint: install
	$(BIN)/ruff check muscle_guard demo tests bench plugins
	$(BIN)/ruff format --check muscle_guard demo tests bench plugins

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
	rm -rf $(VENV) $(VENV)-lock .muscle-cache .pytest_cache .mypy_cache .ruff_cache
