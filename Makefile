# IndiePay: two commands on a fresh machine.
#   make serve  - create .venv, install, migrate, start API + sandbox gateways + worker + demo merchant (SQLite)
#   make test   - install, then ruff, mypy (strict), import contracts and every test

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test install lint typecheck contracts pytest bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/indiepay migrate
	$(BIN)/indiepay serve --demo-merchant

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# two workers: most tests wait on loopback HTTP, sandbox callbacks and databases, not on a core; every test
# has its own temporary SQLite file or PostgreSQL database, so they run side by side (~7 min instead of ~13)
pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 --durations=10

test: lint typecheck contracts pytest

demo: $(STAMP)
	$(BIN)/indiepay demo

bench: $(STAMP)
	$(BIN)/python bench/payments.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
