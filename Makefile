# citycheck — the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

# Everything the pipeline writes goes under var/ (git-ignored); override to put it elsewhere.
export CITYCHECK_DATA_DIR ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false

.PHONY: help setup run test lint clean lock sample-data bench airflow-up airflow-down airflow-status airflow-ui bi-check portal

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null || \
		{ echo "citycheck needs Python 3.11 or newer: run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	@touch $@

$(AIRFLOW_HOME)/.migrated: $(BIN)/.installed
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)
	$(BIN)/airflow pools set citycheck_warehouse $$($(BIN)/citycheck pool-slots) "tasks that write the warehouse (citycheck pool-slots)" > /dev/null
	@touch $@

# Headless Chromium and CJK fonts for the browser tests of the pages citycheck writes. Installed
# with apt-get where the setup runs as root and they are missing; elsewhere those tests are
# skipped, saying so.
$(BIN)/.browser: $(BIN)/.installed
	@command -v chromium > /dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null && \
		{ echo "installing chromium and fonts-noto-cjk (apt-get) for the browser tests"; \
		  apt-get install -y -q chromium fonts-noto-cjk > $(VENV)/apt.log 2>&1 || \
		  { apt-get update -q >> $(VENV)/apt.log 2>&1 && \
		    apt-get install -y -q chromium fonts-noto-cjk >> $(VENV)/apt.log 2>&1; }; } || \
		echo "headless Chromium is not installed ($(VENV)/apt.log): the browser tests will be skipped"; }
	@touch $@

setup: $(BIN)/.installed $(AIRFLOW_HOME)/.migrated $(BIN)/.browser  ## virtual environment from the lock file + Airflow metadata DB (SQLite) + headless Chromium

run: setup  ## run the main job once through the Airflow DAGs on the sample data
	$(BIN)/python -m citycheck.devtools.demo

test: setup  ## the whole test suite
	$(BIN)/python -m pytest

bench: setup  ## benchmark scales S and M against pandas and DuckDB (SCALES="S M L" for more)
	$(BIN)/citycheck bench --scale $(or $(SCALES),S M)

airflow-ui: setup  ## the Airflow UI on what make run did (runs, task states, task logs): http://127.0.0.1:8088
	$(BIN)/python -m citycheck.devtools.airflow_ui

airflow-up: setup  ## start Airflow for real: PostgreSQL metadata, Celery on Redis, WORKERS=2 (docs/operations.md)
	$(BIN)/python -m citycheck.operations.stack up --workers $(or $(WORKERS),2)

airflow-down:  ## stop everything airflow-up started
	$(BIN)/python -m citycheck.operations.stack down

airflow-status:  ## which services of the stack run, which Celery workers answer
	$(BIN)/python -m citycheck.operations.stack status --workers $(or $(WORKERS),2)

# Superset in an environment of its own (~800 MB): it pins SQLAlchemy 1.4 and Flask, which
# cannot live beside Airflow 3. flask-caching 2.4+ and a missing cachetools break its start.
BI_VENV := .venv-bi
BI_PG_DSN ?= host=127.0.0.1 port=5432 user=postgres dbname=citycheck_bi
bi-check: run  ## optional: prove docs/bi.md with a real Superset against both publications (not in make test)
	test -x $(BI_VENV)/bin/superset || { $(BIN)/uv venv -q --python $(BIN)/python $(BI_VENV) && \
	  VIRTUAL_ENV=$(CURDIR)/$(BI_VENV) $(BIN)/uv pip install -q "apache-superset==6.1.0" rich \
	  cachetools "flask-caching<2.4" duckdb-engine "duckdb>=2.0,<2.1" psycopg2-binary; }
	mkdir -p $(CITYCHECK_DATA_DIR)/superset
	printf 'SECRET_KEY = "citycheck-bi-check-local-only"\nSQLALCHEMY_DATABASE_URI = "sqlite:///%s/superset/superset.db"\nPREVENT_UNSAFE_DB_CONNECTIONS = False\n' \
	  "$(CITYCHECK_DATA_DIR)" > $(CITYCHECK_DATA_DIR)/superset/superset_config.py
	SUPERSET_CONFIG_PATH=$(CITYCHECK_DATA_DIR)/superset/superset_config.py $(BI_VENV)/bin/superset db upgrade \
	  > $(CITYCHECK_DATA_DIR)/superset/upgrade.log 2>&1
	$(BIN)/python -c "import psycopg2, sys; c = psycopg2.connect(sys.argv[1].replace('dbname=citycheck_bi', 'dbname=postgres')); c.autocommit = True; cur = c.cursor(); cur.execute(\"select 1 from pg_database where datname = 'citycheck_bi'\"); cur.fetchone() or cur.execute('create database citycheck_bi')" "$(BI_PG_DSN)"
	CITYCHECK_PG_DSN="$(BI_PG_DSN)" $(BIN)/citycheck publish --target postgres > /dev/null
	SUPERSET_CONFIG_PATH=$(CITYCHECK_DATA_DIR)/superset/superset_config.py CITYCHECK_PG_DSN="$(BI_PG_DSN)" \
	  $(BI_VENV)/bin/python scripts/superset_check.py $(CITYCHECK_DATA_DIR)/published/citycheck.duckdb 2>/dev/null

portal: setup  ## the department portal on http://127.0.0.1:8090 (accounts: citycheck users add)
	CITYCHECK_PORTAL_INSECURE_COOKIES=$(or $(CITYCHECK_PORTAL_INSECURE_COOKIES),1) $(BIN)/python -m citycheck.serving.portal_app

lint:  ## ruff
	$(BIN)/ruff check citycheck extract dags tests scripts

lock:  ## re-resolve requirements.lock from pyproject.toml (needs the package registry)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

sample-data:  ## regenerate data/sample from scripts/generate_sample_data.py
	$(BIN)/python scripts/generate_sample_data.py

clean:  ## remove var/ (warehouse, published files, Airflow metadata) — not the venv
	rm -rf var dbt_project/target dbt_project/logs
