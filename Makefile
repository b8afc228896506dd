# The two commands a newcomer needs: `make run` (set up everything, start transit-status) and
# `make test` (set up everything, run the tests against real servers). Each step is done once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .cache/stamps
JAR_POMS := $(wildcard jars/*/pom.xml)
# Our Flink SQL functions are built from source in the same step.
JAR_SOURCES := $(shell find jars -name '*.java')

.PHONY: run test test-fast setup setup-test lint format bench platform-up platform-down platform-status clean help

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: setup  ## Set up everything, then start transit-status (Ctrl-C stops it)
	$(BIN)/transit-status run

test: setup-test  ## Set up everything, then run the whole test suite against real servers
	$(BIN)/python -m pytest

# Pure: no servers, no jars, no network; a fresh clone with only the venv runs them.
test-fast: $(STAMPS)/venv  ## Only the pure tests (no servers, jars or network): logic, models, layout; about a minute
	$(BIN)/python -m pytest -m "not platform and not system" --ignore=tests/test_pipeline_end_to_end.py -q

setup: $(STAMPS)/system $(STAMPS)/venv $(STAMPS)/jars  ## Debian packages, virtualenv, Maven jars

setup-test: setup $(STAMPS)/system-browser

$(STAMPS)/system: scripts/setup-system.sh
	@mkdir -p $(STAMPS)
	PYTHON=$(PYTHON) scripts/setup-system.sh
	@touch $@

$(STAMPS)/system-browser: scripts/setup-system.sh
	@mkdir -p $(STAMPS)
	PYTHON=$(PYTHON) scripts/setup-system.sh --with-browser
	@touch $@

# A venv whose creation failed half-way (Debian's python3 without python3-venv leaves bin/python but
# no pip) is made again, not kept for good.
$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "creating the virtualenv $(VENV) with $(PYTHON)"; rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "error: $(PYTHON) -m venv failed; run scripts/setup-system.sh (installs python3-venv)" >&2; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(STAMPS)/jars: $(JAR_POMS) $(JAR_SOURCES) $(STAMPS)/venv
	$(BIN)/transit-status platform fetch-jars
	@touch $@

lint:  ## ruff check + format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format:  ## ruff fix + format
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: setup  ## Run the benchmarks, one after the other (figures go to benchmarks/results/)
	# The project root on the path: the London benchmarks and alert_latency reuse the tests' helpers
	# (tests/processes.py, the browser tests' Chromium).
	cd benchmarks && for script in platform_startup stop_and_recovery turnstile_throughput cluster_cost \
	    london_sink_throughput london_barrier_throughput london_recovery dashboard_latency dashboard_fanout \
	    feed_latency gtfs_out prediction_accuracy \
	    alert_latency jobs_cost; do \
	  PYTHONPATH=$(CURDIR) ../$(BIN)/python $$script.py || exit 1; done

platform-up: setup  ## Start only the embedded platform (returns when ready)
	$(BIN)/transit-status platform up

platform-down:  ## Stop the embedded platform
	$(BIN)/transit-status platform down

platform-status:  ## Show each service's pid, port, health and log
	$(BIN)/transit-status platform status

clean:  ## Remove the virtualenv and caches (not the platform's data: see `transit-status platform reset`)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
