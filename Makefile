# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# `make test-fast` is the daily loop (tests marked slow left out); `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
UV := $(BIN)/uv
#: uv as uv.lock pins it: pip puts it into a fresh .venv, then it syncs .venv to the lock (itself included).
UV_VERSION = $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
#: The bento's packages (serving/requirements.in) pinned to uv.lock, for bentofile.yaml.
SERVICE_LOCK := serving/requirements.lock
DEPS_CHECK_DIR ?= /tmp/salesml-deps-check
#: What make deps-check runs against the upgrades; narrow it with a path or -k to try one area.
DEPS_CHECK_PYTEST_ARGS ?= -m "not slow"
DEMO := data/demo
DEMO_TRIALS ?= 10
SALESML := $(BIN)/salesml
PORT ?= 3000
#: pytest-xdist workers for make test and test-fast (a test file runs whole on one worker, so its module fixtures
#: are built once); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
KEYS := .secrets/api-keys
SERVICE_PID := logs/service.pid
SERVICE_LOG := logs/service.log
#: Debian packages for the report's browser test and screenshot: headless Chromium, its driver, a CJK font.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk

.PHONY: install lock deps-check demo serve stop test test-fast lint bench clean browser report-screenshot

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "salesml needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: compiled once here, the packages load from bytecode in every later process, also where
# PYTHONDONTWRITEBYTECODE keeps Python from caching it (each `salesml` or test process compiled MLflow, pandas and
# the rest again: 8 s instead of 3 s to import them).
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --extra dev --quiet --compile-bytecode
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install salesml with its dev tools, at the versions uv.lock pins

lock: | $(UV) ## after a change to pyproject.toml's dependencies: re-resolve uv.lock (UPGRADE="--upgrade-package NAME" takes a newer release) and pin the bento's packages to it
	$(UV) lock $(UPGRADE)
	$(UV) pip compile serving/requirements.in --universal --python-version 3.11 --quiet --no-header --no-annotate \
	  --constraint <($(UV) export --frozen --all-extras --no-hashes --no-emit-project --no-header --quiet) \
	  -o $(SERVICE_LOCK)

deps-check: install ## list the packages with newer releases, and run the tests against the newest that pyproject.toml admits in a throwaway venv (DEPS_CHECK_PYTEST_ARGS narrows them)
	$(UV) pip list --outdated --python $(BIN)/python
	$(UV) lock --upgrade --dry-run
	rm -rf $(DEPS_CHECK_DIR) && mkdir -p $(DEPS_CHECK_DIR)
	$(UV) pip compile pyproject.toml --extra dev --upgrade --python $(BIN)/python --quiet -o $(DEPS_CHECK_DIR)/upgraded.txt
	$(UV) venv --quiet --python $(BIN)/python $(DEPS_CHECK_DIR)/venv
	$(UV) pip install --quiet --python $(DEPS_CHECK_DIR)/venv/bin/python -r $(DEPS_CHECK_DIR)/upgraded.txt
	$(UV) pip install --quiet --python $(DEPS_CHECK_DIR)/venv/bin/python --no-deps -e .
	$(DEPS_CHECK_DIR)/venv/bin/python -m pytest $(DEPS_CHECK_PYTEST_ARGS)
	@echo "the upgrades pass: take them with make lock UPGRADE=--upgrade (or --upgrade-package NAME), then make test"

demo: install ## generate demo data, validate it, build features, train both models, score open leads and deals, forecast
	$(SALESML) data synth --out $(DEMO) --leads 20000 --seed 7
	$(SALESML) data validate $(DEMO)
	$(SALESML) features build --data $(DEMO) --entity lead --out $(DEMO)/features/lead.parquet
	$(SALESML) features build --data $(DEMO) --entity opportunity --out $(DEMO)/features/opportunity.parquet
	$(SALESML) train --model lead_score --data $(DEMO) --trials $(DEMO_TRIALS)
	$(SALESML) train --model close_probability --data $(DEMO) --trials $(DEMO_TRIALS)
	$(SALESML) score --model lead_score --data $(DEMO) --out $(DEMO)/scores/leads.csv
	$(SALESML) score --model close_probability --data $(DEMO) --out $(DEMO)/scores/opportunities.csv
	$(SALESML) forecast --data $(DEMO) --period month --by team --periods 3
	$(SALESML) targets --data $(DEMO) --level team
	$(SALESML) report --data $(DEMO) --out $(DEMO)/report.html
	$(SALESML) export --data $(DEMO)
	@$(MAKE) --no-print-directory serve

serve: install ## (re)start the scoring service in the background on 127.0.0.1:$(PORT) (after export) and score an example
	@test -s $(KEYS) || $(SALESML) keys create --file $(KEYS) > /dev/null
	@SALESML_API_KEY_FILE=$(KEYS) $(SALESML) serve --background --port $(PORT) --pid-file $(SERVICE_PID) --log $(SERVICE_LOG)
	@KEY=$$(SALESML_API_KEY_FILE=$(KEYS) $(BIN)/python -c 'from serving.auth import read_keys; print(read_keys()[0][0])'); \
	  echo; echo "Score a lead:"; \
	  echo; echo "  curl -s http://127.0.0.1:$(PORT)/v1/leads/score -H 'Authorization: Bearer '$$KEY \\"; \
	  echo "       -H 'Content-Type: application/json' -d @examples/score-lead.json"; echo; \
	  curl -s http://127.0.0.1:$(PORT)/v1/leads/score -H "Authorization: Bearer $$KEY" \
	    -H 'Content-Type: application/json' -d @examples/score-lead.json | $(BIN)/python -m serving.show

stop: ## stop the background scoring service whole (supervisor, server, workers, and what a kill left of them)
	@$(SALESML) service stop --pid-file $(SERVICE_PID)

test: install browser ## run the whole test suite, slow tests included (about 19 min on 2 cores, fresh clone; installs the report's browser first when root)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-fast: install ## the daily loop: every test not marked slow (about 3 min on 2 cores)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

browser: ## install $(BROWSER_PACKAGES) with apt-get when missing (as root; otherwise say what to install)
	@missing=$$(for p in $(BROWSER_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2> /dev/null | grep -q 'ok installed' || echo $$p; done); \
	  if test -z "$$missing"; then exit 0; fi; \
	  if test "$$(id -u)" = 0 && command -v apt-get > /dev/null; then \
	    echo "installing" $$missing; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing > /dev/null; \
	  else echo "the report's browser test and screenshot need:" $$missing "(as root: apt-get install" $$missing"); the test is skipped until then"; fi

report-screenshot: install browser ## write the demo report (after make demo) and save a PNG of it as docs/report.png
	@test -f $(DEMO)/manifest.yaml || { echo "no demo data in $(DEMO): run make demo first"; exit 2; }
	$(SALESML) report --data $(DEMO) --out $(DEMO)/report.html
	$(BIN)/python -m training.report.browser $(DEMO)/report.html docs/report.png

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install ## feature-building, simulator, training, scoring, serving, service start, request parsing, forecast and Dask scale-out benchmarks (minutes; writes BENCHMARKS.md)
	$(BIN)/python -m benchmarks.features
	$(BIN)/python -m benchmarks.synth
	$(BIN)/python -m benchmarks.train
	$(BIN)/python -m benchmarks.scoring
	$(BIN)/python -m benchmarks.serve
	$(BIN)/python -m benchmarks.start
	$(BIN)/python -m benchmarks.parsing
	$(BIN)/python -m benchmarks.forecast
	$(BIN)/python -m benchmarks.scale

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis
