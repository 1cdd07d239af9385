# Two commands for a fresh machine: `make run` (the app with demo data on SQLite) and
# `make test` (the whole suite). See README.md.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_STUDENTS ?= 300
# Used by `make test` when DATABASE_URL is unset and PostgreSQL answers on 127.0.0.1:5432.
LOCAL_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/workshop_progress

.PHONY: run test lint format install install-dev clean bench-smoke

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -r requirements.txt

install-dev: $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt

# The app on http://$(HOST):$(PORT), on the embedded SQLite default unless DATABASE_URL is set.
run: export DJANGO_DEBUG ?= true
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty --students $(DEMO_STUDENTS)
	$(PY) manage.py ensure_demo_instructor
	@echo "Serving on http://$(HOST):$(PORT)/ (dashboards at /dashboard/, admin at /admin/, API docs at /api/docs/)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# The whole suite: on DATABASE_URL when set, else on PostgreSQL at 127.0.0.1 when it
# answers, else on SQLite. The first line of output says which.
test: install-dev
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo "make test: using DATABASE_URL ($${DATABASE_URL%%://*})"; \
	elif $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2).close()" 2>/dev/null; then \
	  echo "make test: PostgreSQL answers on 127.0.0.1:5432, using it"; \
	  export DATABASE_URL="$(LOCAL_POSTGRES_URL)"; \
	else \
	  echo "make test: no PostgreSQL on 127.0.0.1:5432, using SQLite (PostgreSQL-only tests are skipped)"; \
	fi; \
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Every benchmark at a tiny size, to keep the scripts working (needs PostgreSQL and Redis on
# 127.0.0.1, wrk and pgbouncer; each builds its own scratch database).
# Real runs: docs/benchmarks.md.
bench-smoke: install-dev
	$(PY) bench/bench_dashboards.py --smoke
	$(PY) bench/bench_cleanup.py --smoke
	$(PY) bench/bench_archive_events.py --smoke
	$(PY) bench/bench_migrate_legacy.py --smoke
	$(PY) bench/bench_migrate_legacy.py --smoke --backup
	$(PY) bench/bench_export_memory.py --smoke
	$(PY) bench/bench_api.py --smoke
	$(PY) bench/cpu_split.py --smoke
	$(PY) bench/scaleout.py two-nodes --smoke
	$(PY) bench/scaleout.py pgbouncer --smoke
	$(PY) bench/resilience.py fuzz --smoke
	$(PY) bench/resilience.py worker-kill --smoke
	$(PY) bench/bench_webhooks.py --smoke

lint: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
