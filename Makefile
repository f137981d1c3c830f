# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench up clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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
	$(BIN)/python bench/telemetry.py

up: $(STAMP)
	$(BIN)/ingenium up

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
