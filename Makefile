# lwd — the two commands of the README's quick start, and a few more for development.
#
#   make run     set up .venv and run the default scenario
#   make test    set up .venv with the test tools and run the test suite (what CI runs)
#   make bench   benchmarks (not part of the tests)
#
# Variables: PYTHON (an interpreter >= 3.11, default python3), SCENARIO (for `make run`), OUT (run folder).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= paper-gmm-b2
OUT ?=
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q

.PHONY: setup setup-dev run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("lwd needs Python >= 3.11; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

run: setup
	$(BIN)/lwd gmm $(SCENARIO) $(if $(OUT),--out $(OUT))

test: setup-dev
	$(BIN)/python -m pytest
	$(BIN)/ruff check .

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup-dev
	$(BIN)/python bench/bench_gmm.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
