# Two commands set everything up on a fresh machine:
#   make run    build the warehouse from the committed sample exports and print the scorecard
#   make test   lint, dbt build (data + unit tests), Great Expectations checkpoint, pytest
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
RAW_DIR ?= data/sample_exports
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: help setup engines engine-services pg-start pg-stop browser run test lint dbt-build gx pytest bench docs clean lock \
	orchestration check unit-tests lint-timed dbt-build-timed gx-after-build pytest-beside-build installs-timed \
	freshness build-billing-run build-daily build-monthly surveys-handoff dashboard-screenshot

help:
	@echo "make run [RAW_DIR=dir] [FULL_REFRESH=1] [ENGINE=duckdb|postgres|spark] [HANDOFF_DIR=dir]"
	@echo "                         load new deliveries of the CIS exports, test, publish, print the scorecard"
	@echo "make surveys-handoff HANDOFF_DIR=dir   the due surveys, with name and e-mail, into a private folder"
	@echo "make test                lint + dbt build/tests + GX checkpoint + pytest"
	@echo "make bench               benchmark on generated exports (see docs/benchmarks.md)"

$(BIN)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/.installed

# The other engines' adapters (requirements-engines.txt): `make test` builds the
# sample on PostgreSQL and Spark too; `make run` on DuckDB does not need them.
$(BIN)/.engines-installed: $(BIN)/.installed requirements-engines.txt constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements-engines.txt -c constraints.txt
	touch $@

engines: $(BIN)/.engines-installed

# Dagster and dagster-dbt (requirements-orchestration.txt): the code location's
# tests run in `make test`; `make run` does not need them.
$(BIN)/.orchestration-installed: $(BIN)/.installed requirements-orchestration.txt constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements-orchestration.txt -c constraints.txt
	touch $@

orchestration: $(BIN)/.orchestration-installed

# A throw-away local PostgreSQL for `make run ENGINE=postgres` (prints the
# PG* lines to eval; the tests start their own): make pg-start / make pg-stop
PG_DIR ?= $(CURDIR)/target/pg
pg-start: engines
	@$(BIN)/python -m cx_warehouse.engines.postgres start --dir "$(PG_DIR)"
pg-stop: setup
	$(BIN)/python -m cx_warehouse.engines.postgres stop --dir "$(PG_DIR)"

# Headless Chromium for the dashboard's browser test (Debian's package).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || command -v chromium-headless-shell >/dev/null || \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

# ENGINE=duckdb (the default) | postgres | spark (docs/engines.md)
ENGINE ?= duckdb
# HANDOFF_DIR: a private folder (mode 700) for the survey hand-off after the
# publish (docs/contract/survey-triggers.md, "Hand-off"); unset = skipped.
HANDOFF_DIR ?= $(CX_SURVEY_HANDOFF_DIR)
ifeq ($(ENGINE),duckdb)
run: setup
	CX_SURVEY_HANDOFF_DIR="$(HANDOFF_DIR)" $(BIN)/python -m cx_warehouse run --raw-dir "$(RAW_DIR)" $(if $(filter 1 true yes,$(FULL_REFRESH)),--full-refresh)
else
run: engines
	$(BIN)/python -m cx_warehouse.engines run --engine "$(ENGINE)" --raw-dir "$(RAW_DIR)" $(if $(filter 1 true yes,$(FULL_REFRESH)),--full-refresh)
endif

# the due surveys not handed off before, with name and e-mail, into HANDOFF_DIR
surveys-handoff: setup
	@test -n "$(HANDOFF_DIR)" || (echo "make surveys-handoff HANDOFF_DIR=/private/folder (mode 700)"; exit 2)
	$(BIN)/python -m cx_warehouse surveys handoff --out "$(HANDOFF_DIR)"

# The dashboard picture in docs/ (after make run): the sample, drilled down to
# age band 65+ (the page's address chooses the segment), checked clean first.
dashboard-screenshot: setup browser
	$(BIN)/python tests/python/_browser.py warehouse/dashboard/index.html docs/img/dashboard.png '#segment=age_band/65%2B'

lint: setup
	DUCKDB_PATH=$(CURDIR)/target/lint.duckdb DBT_TARGET_PATH=target/lint $(BIN)/sqlfluff lint models tests analyses

# dbt build (seeds, models, unit tests and data tests) on the committed sample,
# into a throw-away warehouse file so the published one is never touched.
TEST_DUCKDB := $(CURDIR)/target/test_warehouse.duckdb
dbt-build: setup
	mkdir -p target && rm -f $(TEST_DUCKDB) $(TEST_DUCKDB).wal
	DUCKDB_PATH=$(TEST_DUCKDB) $(BIN)/dbt build --vars '{raw_dir: "$(CURDIR)/$(RAW_DIR)"}'

gx: setup
	$(BIN)/python -m cx_warehouse.gx_checks --duckdb $(TEST_DUCKDB) --raw-dir $(RAW_DIR) --results-dir target/gx_results

# The other engines' services for the engine tests: the PostgreSQL server
# binaries and a Java runtime for Spark (on the machine image; else Debian's).
engine-services:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql)
	@command -v java >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q openjdk-17-jre-headless)

# pytest on two workers (pytest-xdist; a module or class is one unit of work,
# tests/python/conftest.py runs the slowest first), the 25 slowest tests listed at the end.
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25
pytest: setup browser engines orchestration engine-services
	CX_REQUIRE_ENGINES=1 $(PYTEST)

# make test: once the virtualenv is there, lint and the sample's dbt build start
# while the rest is installed (the engines' and Dagster's packages, Chromium,
# PostgreSQL, Java: mostly one core's work); pytest starts when that is done, and
# the GX checkpoint when the build is. pytest's tests that read the sample wait
# for that very build (CX_SAMPLE_WAREHOUSE; SAMPLE_READY says "ok" or "failed"
# when it ends) instead of building the sample again; the others (the engines,
# the delivery chains) start at once. Each phase's output is printed whole when
# it ends, with its elapsed seconds. (The installs beside lint and the build add
# packages only: constraints.txt pins every version, so none they use changes.)
SAMPLE_READY := $(CURDIR)/target/test_warehouse.ready
test:
	@start=$$(date +%s); $(MAKE) --no-print-directory setup || exit $$?; \
	  echo "[make test] installs (virtualenv): $$(( $$(date +%s) - start )) s"
	@mkdir -p target && rm -f $(SAMPLE_READY)
	@$(MAKE) --no-print-directory -j4 --output-sync=target lint-timed dbt-build-timed gx-after-build pytest-beside-build

installs-timed:
	@start=$$(date +%s); $(MAKE) --no-print-directory browser engines orchestration engine-services; rc=$$?; \
	  echo "[make test] installs (engines, orchestration, browser, services; beside lint and the build): $$(( $$(date +%s) - start )) s"; exit $$rc

lint-timed:
	@start=$$(date +%s); $(MAKE) --no-print-directory lint; rc=$$?; echo "[make test] lint: $$(( $$(date +%s) - start )) s"; exit $$rc

# (with the suite's savings in dbt's own work: loggers, Jinja compiling, manifest writes; DECISIONLOG 138)
dbt-build-timed:
	@start=$$(date +%s); PYTHONPATH=$(CURDIR)/tests/python/_dbt_shared_parse$${PYTHONPATH:+:$$PYTHONPATH} \
	  $(MAKE) --no-print-directory dbt-build; rc=$$?; echo "[make test] dbt build: $$(( $$(date +%s) - start )) s"; \
	  if [ $$rc = 0 ]; then echo ok > $(SAMPLE_READY); else echo failed > $(SAMPLE_READY); fi; exit $$rc

gx-after-build: dbt-build-timed
	@start=$$(date +%s); $(MAKE) --no-print-directory gx; rc=$$?; echo "[make test] gx: $$(( $$(date +%s) - start )) s"; exit $$rc

pytest-beside-build: installs-timed
	@start=$$(date +%s); CX_REQUIRE_ENGINES=1 CX_SAMPLE_WAREHOUSE=$(TEST_DUCKDB) CX_SAMPLE_TARGET=$(CURDIR)/target \
	  CX_SAMPLE_READY=$(SAMPLE_READY) $(PYTEST); rc=$$?; echo "[make test] pytest: $$(( $$(date +%s) - start )) s"; exit $$rc

# The inner loop: lint, the dbt unit tests (models built empty), and the tests
# that build no warehouse (pytest -m "not slow"); `make test` runs everything.
check: setup
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint unit-tests
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

unit-tests: setup
	mkdir -p target && rm -f target/unit.duckdb target/unit.duckdb.wal
	DUCKDB_PATH=$(CURDIR)/target/unit.duckdb DBT_TARGET_PATH=target/unit $(BIN)/dbt build --empty \
	  --exclude-resource-type test --vars '{raw_dir: "$(CURDIR)/$(RAW_DIR)"}'

# Scheduled cadences (docs/scheduling.md): freshness of the feeds the cadence
# reads (checked on the working state), then `make run` limited to the
# cadence's selector: new deliveries, tests, gate and an atomic publish.
DUCKDB_PATH ?= warehouse/cx_warehouse.duckdb
STATE_PATH = $(patsubst %.duckdb,%.state.duckdb,$(DUCKDB_PATH))
DBT_RUN_VARS = --vars '{raw_dir: "$(abspath $(RAW_DIR))"}'
CADENCE_RUN = $(BIN)/python -m cx_warehouse run --raw-dir "$(RAW_DIR)" --duckdb "$(DUCKDB_PATH)" --selector
freshness: setup
	DUCKDB_PATH=$(STATE_PATH) $(BIN)/dbt source freshness $(DBT_RUN_VARS) $(if $(SOURCES),--select $(SOURCES))

build-billing-run: setup
	DUCKDB_PATH=$(STATE_PATH) $(BIN)/dbt source freshness $(DBT_RUN_VARS) --select source:cis.raw_billing_runs source:cis.raw_bills source:cis.raw_ami_daily_reads
	$(CADENCE_RUN) billing_run

build-daily: setup
	DUCKDB_PATH=$(STATE_PATH) $(BIN)/dbt source freshness $(DBT_RUN_VARS) --select source:cis.raw_contacts source:cis.raw_portal_events source:cis.raw_surveys source:cis.raw_payments
	$(CADENCE_RUN) daily

build-monthly: setup
	DUCKDB_PATH=$(STATE_PATH) $(BIN)/dbt source freshness $(DBT_RUN_VARS)
	$(CADENCE_RUN) monthly

bench: setup
	$(BIN)/python -m cx_warehouse.bench $(BENCH_ARGS)

lock: setup
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf target logs warehouse dbt_packages
