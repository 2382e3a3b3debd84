PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := cronadmin.settings
# Development mode for everything started from here (see cronadmin/settings.py); production
# deployments never run make.
export CRONADMIN_DEV ?= 1

.PHONY: run test install lint format bench bench-propagation bench-pages bench-api clean

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

test: install
	$(BIN)/python -m pytest -q

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

clean:
	rm -rf $(VENV) var staticfiles
