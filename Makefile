# Heroes: every task has a target; `make help` lists them.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Local targets run in development; production reads its settings from the environment.
DEV := DJANGO_DEBUG=1 DJANGO_HTTPS=0
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run serve migrate test test-postgres lint format bench-seed bench-services bench-load

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed ## Create the virtual environment and install requirements.txt

run: install ## Migrate SQLite, load the tutorial data, print a staff login, serve on 127.0.0.1:8000
	$(DEV) $(PY) manage.py migrate --no-input
	$(DEV) $(PY) manage.py seed_heroes
	$(DEV) $(PY) manage.py local_staff
	$(DEV) HEROES_SQL_LOG_LEVEL=INFO $(PY) manage.py runserver 127.0.0.1:8000

serve: install ## Serve in production with gunicorn on $$PORT (settings from the environment)
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(VENV)/bin/gunicorn --config gunicorn.conf.py

migrate: install ## Apply migrations to the database in DATABASE_URL (production included)
	$(PY) manage.py migrate --no-input

test: install ## Run the whole test suite (SQLite, or the database in DATABASE_URL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: install ## Run the whole test suite on the local PostgreSQL
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/heroes $(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff (lint and format) and a check that migrations match the models
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(DEV) $(PY) manage.py makemigrations --check --dry-run

format: install ## Format and fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-seed: install ## Benchmark seeding 1,000,000 heroes on SQLite and PostgreSQL
	$(PY) bench/seed.py --database both

bench-services: install ## Benchmark the bulk services against a per-hero loop
	$(PY) bench/services.py --database both

bench-load: install ## Load-test the staff pages with gunicorn and wrk against their floors
	$(PY) bench/load.py --database both
