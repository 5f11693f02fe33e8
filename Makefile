# Backbone CRM: day-to-day commands. `make run` and `make test` work on a fresh clone.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

# Local work runs the development configuration unless the caller chose another one.
export CRM_ENV ?= development

# `make test` leaves out the tests marked slow (the full naughty-strings sweep) and the Chromium
# tests (two thirds of the suite's time): .ci/run runs both. `make test-all` runs everything.
PYTEST_MARKERS ?= not slow and not browser
# pytest-xdist workers: one per core by default; PYTEST_WORKERS=0 runs in this process alone.
PYTEST_WORKERS ?= auto

.PHONY: help install install-dev run test test-all lint bench bench-http migrate migration

help:
	@echo "make run                 set up, migrate, load demo data, start the job runner and serve on http://$(HOST):$(PORT)"
	@echo "make test                install-dev, ruff, pytest without the slow tier and the Chromium tests"
	@echo "                         (TEST_DATABASE_URL=postgresql+psycopg://... for PostgreSQL)"
	@echo "make test-all            the same with the Chromium tests and the slow tier, as .ci/run does"
	@echo "make lint                ruff check ."
	@echo "make migrate             flask db upgrade on the configured database"
	@echo "make migration m=\"...\"   autogenerate a migration from the models"
	@echo "make bench               python -m bench (BENCH_ARGS=\"--inquiries 20000 ...\")"
	@echo "make bench-http          the app under gunicorn over real HTTP: pages, form posts, a bare insert,"
	@echo "                         mail drain, worker memory (BENCH_DATABASE_URL=...; BENCH_ARGS=\"--inquiries 20000 ...\")"
	@echo "make install             create .venv and install requirements.txt (what the app needs to run)"
	@echo "make install-dev         make install, then requirements-dev.txt (tests and tools)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever requirements.txt is newer than the stamp.
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# The tests' and tools' packages, on top of the runtime ones, with a stamp of their own.
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(DEV_STAMP)

install-dev: $(DEV_STAMP)

instance:
	mkdir -p instance

run: install | instance
	@echo "+ flask db upgrade"
	$(FLASK) db upgrade
	echo "+ flask crm seed-holidays"
	$(FLASK) crm seed-holidays
	echo "+ flask crm seed-demo --if-empty"
	$(FLASK) crm seed-demo --if-empty
	jobs_pid=""
	stop_jobs() { if [ -n "$$jobs_pid" ]; then kill "$$jobs_pid" 2>/dev/null || true; wait "$$jobs_pid" 2>/dev/null || true; fi; }
	trap stop_jobs EXIT
	trap 'exit 130' INT TERM
	echo "+ flask crm jobs &"
	$(FLASK) crm jobs &
	jobs_pid=$$!
	echo "+ flask run --host $(HOST) --port $(PORT)"
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/pytest -m "$(PYTEST_MARKERS)" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-all:
	$(MAKE) test PYTEST_MARKERS=

lint: install-dev
	$(BIN)/ruff check .

# The database is migrated first, so the benchmark never creates an unversioned schema.
# Options: make bench BENCH_ARGS="--inquiries 20000 --contacts 2000 --repeat 10"
bench: install | instance
	$(FLASK) db upgrade
	$(BIN)/python -m bench $(BENCH_ARGS)

# The app under gunicorn, measured over HTTP (bench/over_http.py); it migrates the database
# itself, and needs the dev packages (httpx, aiosmtpd). Options as above, plus --posts and --concurrency.
bench-http: install-dev | instance
	$(BIN)/python -m bench.over_http $(BENCH_ARGS)

migrate: install | instance
	$(FLASK) db upgrade

# Autogenerate a revision: a scratch SQLite database is brought to head, then compared with the models.
# Usage: make migration m="add inquiry notes"
migration: install
	@if [ -z "$(m)" ]; then echo 'usage: make migration m="what changed"' >&2; exit 2; fi
	scratch=$$(mktemp -d)
	echo "+ flask db upgrade && flask db migrate -m \"$(m)\" (scratch database $$scratch/migration.sqlite)"
	trap 'rm -rf "$$scratch"' EXIT
	export DATABASE_URL="sqlite:///$$scratch/migration.sqlite"
	$(FLASK) db upgrade
	$(FLASK) db migrate -m "$(m)"
