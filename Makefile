# Two commands do all set-up on a fresh machine (Python 3.11 + pip): `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= runs/demo

.PHONY: install demo lint test test-slow test-all fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/qsnn-deploy pipeline --out $(OUT)

# Lint, format and types: configured in pyproject.toml, so a bare `ruff check .` / `mypy` check the same.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Hypothesis profiles are registered in tests/conftest.py: "ci" draws the same examples everywhere.
test: lint
	$(BIN)/python -m pytest -q -n 2 --hypothesis-profile=ci

# The slow tier (tests marked slow, tests/slow/): the headline results re-measured with real thresholds, the
# pipeline with the model's defaults included (under ~30 min on 2 cores). One process: its tests share one demo run.
test-slow: install
	$(BIN)/python -m pytest -q -p no:xdist --hypothesis-profile=ci -m 'slow and not hardware'

# Everything but the tests that need a chip: the default suite, then the slow tier.
test-all: install
	$(BIN)/python -m pytest -q -n 2 --hypothesis-profile=ci -m 'not slow and not hardware'
	$(MAKE) test-slow

# The property tests with random draws and 20x their examples (a few minutes); FUZZ_JOBS=1 on a busy machine.
FUZZ_JOBS ?= 2
fuzz: install
	$(BIN)/python -m pytest -q -n $(FUZZ_JOBS) --hypothesis-profile=fuzz -m 'property and not slow and not hardware'

clean:
	rm -rf $(VENV) runs build *.egg-info
