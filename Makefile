# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := data/demo
DEMO_TRIALS ?= 10
SALESML := $(BIN)/salesml

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "salesml needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install salesml with its dev tools

demo: install ## generate demo data, validate it, build features, train both models, score open leads and deals
	$(SALESML) data synth --out $(DEMO) --leads 20000 --seed 7
	$(SALESML) data validate $(DEMO)
	$(SALESML) features build --data $(DEMO) --entity lead --out $(DEMO)/features/lead.parquet
	$(SALESML) features build --data $(DEMO) --entity opportunity --out $(DEMO)/features/opportunity.parquet
	$(SALESML) train --model lead_score --data $(DEMO) --trials $(DEMO_TRIALS)
	$(SALESML) train --model close_probability --data $(DEMO) --trials $(DEMO_TRIALS)
	$(SALESML) score --model lead_score --data $(DEMO) --out $(DEMO)/scores/leads.csv
	$(SALESML) score --model close_probability --data $(DEMO) --out $(DEMO)/scores/opportunities.csv

test: install ## run the whole test suite
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install ## feature-building, simulator, training and scoring benchmarks (minutes; writes BENCHMARKS.md)
	$(BIN)/python -m benchmarks.features
	$(BIN)/python -m benchmarks.synth
	$(BIN)/python -m benchmarks.train
	$(BIN)/python -m benchmarks.scoring

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis
