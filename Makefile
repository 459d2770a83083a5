# One-command development and test workflow. See README.md.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 || command -v python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEVSTACK := $(PY) tools/devstack.py
# Procfile commands (uvicorn, celery) come from the virtualenv.
export PATH := $(abspath $(VENV))/bin:$(PATH)

WEB_HOST ?= 127.0.0.1
# REST, pages and admin: the web pool (gunicorn, WEB_CONCURRENCY workers). WebSockets: the stream
# process (uvicorn, STREAM_CONCURRENCY workers) on STREAM_PORT, where the web pool sends clients.
WEB_PORT ?= 8000
STREAM_PORT ?= 8001
STREAM_CONCURRENCY ?= 1
FLOWER_PORT ?= 5555
export WEB_HOST WEB_PORT STREAM_PORT STREAM_CONCURRENCY FLOWER_PORT

# `make run` is the development stack: DEBUG on and a development secret unless you set them.
run: export DEBUG ?= true
# The demo admin logs in without a TOTP code; seed_demo says so where it prints the credentials.
run: export ADMIN_REQUIRE_OTP ?= false
# The demo is a sandbox: POST /api/v1/sandbox/faucet credits test funds (docs/risk-controls.md "Sandbox mode").
# Only `make run`: tests switch it per test, and production never has it unless told.
run: export EXCHANGE_SANDBOX ?= true
# Tests import settings in development mode whatever the shell says; production settings are
# tested in subprocesses (apps/core/tests/test_settings.py).
test test-fast: export DEBUG = true
# Sandbox mode is switched per test (apps/sandbox/tests); a shell's EXCHANGE_SANDBOX does not leak in.
test test-fast: export EXCHANGE_SANDBOX = false
# The suite serves REST and WebSockets from one ASGI server unless a test says otherwise
# (apps.core.processes): `make run`'s stream port does not leak into its settings.
test test-fast: export STREAM_PORT =
# Tests use Redis database 1 of the embedded server, so a running `make run` (database 0) is untouched.
TEST_REDIS_DB ?= 1

.PHONY: install run manage test test-fast lint format bench wrk vendor browser stack-up stack-down clean _run

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(DEVSTACK) exec -- $(MAKE) --no-print-directory _run

# `make run SIMULATE=1` adds the market simulator (bots trading through the API; SIMULATE_RATE actions/s).
SIMULATE_RATE ?= 5
ifdef SIMULATE
RUN_PROCFILE := var/Procfile.simulate
else
RUN_PROCFILE := Procfile
endif

_run:
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Web          http://$(WEB_HOST):$(WEB_PORT)/"
	@echo "  Trading page http://$(WEB_HOST):$(WEB_PORT)/trade/"
	@echo "  Admin        http://$(WEB_HOST):$(WEB_PORT)/admin/"
	@echo "  API docs     http://$(WEB_HOST):$(WEB_PORT)/api/docs/"
	@echo "  API schema   http://$(WEB_HOST):$(WEB_PORT)/api/schema/"
	@echo "  Health       http://$(WEB_HOST):$(WEB_PORT)/readyz"
	@echo "  Metrics      http://$(WEB_HOST):$(WEB_PORT)/metrics"
	@echo "  Flower       http://$(WEB_HOST):$(FLOWER_PORT)/"
	@echo "  Matcher      http://127.0.0.1:$${MATCHER_METRICS_PORT:-9108}/metrics"
	@echo "  Stream       ws://$(WEB_HOST):$(STREAM_PORT)/ws/v1/ (WebSockets; ws://$(WEB_HOST):$(WEB_PORT)/ws/v1/ redirects there)"
	@echo "  Book stream  .venv/bin/python -m apps.markets.client BTC-USDT --url ws://$(WEB_HOST):$(STREAM_PORT)/ws/v1/"
	@echo "  PostgreSQL   $$DATABASE_URL"
	@echo "  Redis        $$REDIS_URL"
	@if [ -n "$(SIMULATE)" ]; then mkdir -p var && cp Procfile var/Procfile.simulate && \
		echo "simulator: python manage.py simulate_market --rate $(SIMULATE_RATE) --duration 0 --allow-errors" >> var/Procfile.simulate && \
		echo "  Simulator    bots trading every market at $(SIMULATE_RATE) actions/s (make run SIMULATE=1)"; fi
	@echo "  Processes    .venv/bin/supervisorctl -c var/supervisor/supervisord.conf status (a process that dies is restarted)"
	@echo "  Ctrl-C stops everything."
	@echo ""
	@# supervisord runs the Procfile's processes, restarting any that dies; Ctrl-C stops them all.
	$(PY) tools/supervise.py -f $(RUN_PROCFILE) || [ $$? -eq 130 ]

# `make manage ARGS="verify_ledger"`: any manage.py command against the development stack (the running
# `make run`'s servers, or embedded ones started for the command), with `make run`'s settings. With
# DATABASE_URL set it is somebody's real server: nothing is switched on that the shell did not say.
ifeq ($(DATABASE_URL),)
manage: export DEBUG ?= true
manage: export EXCHANGE_SANDBOX ?= true
endif
manage: $(STAMP)
	$(DEVSTACK) exec -- $(PY) manage.py $(ARGS)

# `make test` runs everything (CI's command) on a test database created and migrated for the run.
test: $(STAMP)
	$(DEVSTACK) exec --redis-db $(TEST_REDIS_DB) -- $(PY) -m pytest $(PYTEST_ARGS)

# `make test-fast`: the tests that start no process (not marked `subprocess`, docs/testing.md), on the
# test database of the previous run when there is one (--reuse-db; new migrations are still applied).
# Two pytest-xdist workers (the machine's two cores), each on a test database and a Redis database of
# its own (conftest.py); a module's tests stay on one worker (--dist loadfile).
TEST_FAST_WORKERS ?= 2
test-fast: $(STAMP)
	$(DEVSTACK) exec --redis-db $(TEST_REDIS_DB) -- $(PY) -m pytest -m "not subprocess" --reuse-db \
		-n $(TEST_FAST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Front-end libraries: the pinned npm packages of package.json, copied into static/vendor (committed,
# so neither `make run` nor `make test` needs npm or the network). Run after changing a pin.
VENDOR_CHARTS := node_modules/lightweight-charts
vendor:
	npm ci --ignore-scripts --no-audit --no-fund
	cp $(VENDOR_CHARTS)/dist/lightweight-charts.standalone.production.mjs $(VENDOR_CHARTS)/LICENSE static/vendor/lightweight-charts/

# Debian's Chromium for the browser tests (tests/browser): `make browser` as root installs it.
browser:
	command -v chromium >/dev/null || apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) wrk
	$(DEVSTACK) exec --redis-db 2 -- $(PY) bench/run.py

# Debian's wrk, the HTTP load generator of bench/bench_entry.py: installed when missing (as root, or
# through sudo without a password); anything else stops here and says what to install.
wrk:
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt=apt-get; \
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt="sudo -n apt-get"; \
		else echo "make bench needs wrk and cannot install it (not root, no sudo): apt-get install wrk" >&2; exit 1; fi; \
		$$apt install -y -q wrk || { $$apt update -q && $$apt install -y -q wrk; }; \
	}
	@command -v wrk >/dev/null || { echo "make bench: wrk did not install (apt-get install wrk)" >&2; exit 1; }

stack-up: $(STAMP)
	$(DEVSTACK) up

stack-down: $(STAMP)
	$(DEVSTACK) down

clean: stack-down
	rm -rf var staticfiles .pytest_cache .ruff_cache
