PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := cronadmin.settings
# Development mode for everything started from here (see cronadmin/settings.py); production
# deployments never run make.
export CRONADMIN_DEV ?= 1

# Most tests wait on real processes rather than compute: three at a time fit two cores.
PYTEST_WORKERS ?= 3
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
FUZZ := tests/test_api_schema.py
# Each pass of the API fuzz test generates other requests.
FUZZ_SEED_SQLITE ?= 20261127
FUZZ_SEED_POSTGRES ?= 20261203
FUZZ_SEEDS ?= 1 2 3 4 5

.PHONY: run test test-sqlite test-postgres fuzz install lint format bench bench-propagation \
	bench-pages bench-live bench-api bench-metrics bench-celery bench-imports clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py loaddemo
	$(BIN)/python manage.py rundev --port $(PORT)

# The whole suite on SQLite, then again on PostgreSQL (tests that make their own PostgreSQL
# database or cluster already ran in the first pass).
test: test-sqlite test-postgres

# The API fuzz test runs on its own: its generated cases share one test id, which parallel
# workers would take for one test.
test-sqlite: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --ignore=$(FUZZ)
	CRONADMIN_FUZZ_SEED=$(FUZZ_SEED_SQLITE) $(BIN)/python -m pytest -q $(FUZZ)

# The browser tests run once, in the first pass: what they check is the pages and their script;
# the database under the pages is the view tests' business, and those run here too.
test-postgres: install
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile \
		-m "not own_database" --ignore=$(FUZZ) --ignore=tests/browser
	DATABASE_URL=$(POSTGRES_URL) CRONADMIN_FUZZ_SEED=$(FUZZ_SEED_POSTGRES) \
		$(BIN)/python -m pytest -q $(FUZZ)

# The API fuzz test with more seeds (not part of `make test`: about a minute each).
fuzz: install
	for seed in $(FUZZ_SEEDS); do CRONADMIN_FUZZ_SEED=$$seed $(BIN)/python -m pytest -q $(FUZZ) || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.scheduler

bench-propagation: install
	$(BIN)/python -m bench.propagation

bench-pages: install
	$(BIN)/python -m bench.pages

bench-api: install
	$(BIN)/python -m bench.api

bench-live: install
	$(BIN)/python -m bench.live

bench-metrics: install
	$(BIN)/python -m bench.metrics

# Runs through Celery workers (local RabbitMQ) and the local pool, on a fresh PostgreSQL database.
bench-celery: install
	$(BIN)/python -m bench.celery_runs

bench-imports: install
	$(BIN)/python -m bench.imports

clean:
	rm -rf $(VENV) var staticfiles
