# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench up clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ingenium demo

test: lint typecheck pytest

# The web tests drive Debian's chromium (never a downloaded browser); as root on a fresh machine, install it.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "error: /usr/bin/chromium is missing: run 'sudo apt-get install chromium' (the web tests need it)"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check ingenium ledger services migrations tests bench

typecheck: $(STAMP)
	$(BIN)/mypy ingenium ledger services

pytest: $(STAMP) chromium
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/loop.py
	$(BIN)/python bench/backtest.py

up: $(STAMP)
	$(BIN)/ingenium up

clean:
	rm -rf $(VENV) .ingenium .mypy_cache .pytest_cache .ruff_cache test-output
