# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install system-packages run test init-db clean bench config-docs fuzz security reliability

# The scrapers' client (clients/python) is a distribution of its own; the tests drive it against the app.
$(BIN)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]" -e clients/python
	touch $@

install: $(BIN)/.installed

## Start Gunicorn on 127.0.0.1:PORT (default 5001; HOST=0.0.0.0 make run to serve others); the
## embedded PostgreSQL starts with it and stops with it.
run: install
	$(BIN)/python -m server.devkey
	HOST=$${HOST:-127.0.0.1} $(BIN)/gunicorn -c gunicorn.conf.py "server:create_app()"

## Debian packages the tests use: redis-server (the shared cache and rate limits), chromium and
## chromium-driver (the status page in a real browser), prometheus (promtool checks the alert rules).
TOOLS := redis-server:redis-server chromium:chromium chromedriver:chromium-driver promtool:prometheus
MISSING = $(foreach t,$(TOOLS),$(if $(shell command -v $(firstword $(subst :, ,$(t))) 2>/dev/null),,$(lastword $(subst :, ,$(t)))))

## Install the Debian packages the tests need, if any is missing (as root; .ci/run does this).
system-packages:
	@if [ -n "$(strip $(MISSING))" ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING); fi

## Run the test suite against a real (embedded) PostgreSQL, Gunicorn, Redis and Chromium. A missing
## package is installed when make runs as root with apt-get; otherwise it stops at once, naming it,
## rather than after minutes of tests.
test: install
	@if [ -n "$(strip $(MISSING))" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then $(MAKE) system-packages; else \
		echo "make test needs the Debian packages $(strip $(MISSING)): run 'sudo make system-packages'" >&2; \
		exit 1; fi; fi
	$(BIN)/pytest

## Apply the schema and indexes to the configured database.
init-db: install
	$(BIN)/flask --app server init-db

## Rewrite .env.example and the README's configuration table from server/config.py.
config-docs: install
	$(BIN)/python -c "from server.config import write_config_docs; write_config_docs()"

clean:
	rm -rf $(VENV) .pytest_cache

## Benchmarks against peers in the same run (see bench/README.md); QUICK=1 for a short run.
bench: install
	$(BIN)/python -c "import sqlalchemy" 2>/dev/null || $(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

## Schemathesis against every route (FUZZ_EXAMPLES per operation, default 100); the suite runs 15.
fuzz: install
	FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),100) $(BIN)/pytest -q -p no:logging tests/test_fuzz_schema.py

## Bad input on every route, keys and scopes, leaks and limits (docs/reliability.md).
security: install
	$(BIN)/pytest -q -p no:logging tests/test_bad_requests.py tests/test_bad_records.py \
		tests/test_tampered_cursors.py tests/test_security.py tests/test_error_leaks.py tests/test_limits.py \
		tests/test_cache_values.py tests/test_slow_clients.py tests/test_dev_setup.py tests/test_health.py \
		tests/test_large_json_memory.py tests/test_ratelimit.py tests/test_observability.py
## The full reliability run (docs/reliability.md): 100 scrapers and 20 list readers for 60 s against
## Gunicorn, a 40 s database outage, then the other fault tests. `make test` runs short forms of all.
reliability: install
	$(BIN)/python -m tests.load --seconds 60 --scrapers 100 --readers 20
	OUTAGE_SECONDS=40 $(BIN)/pytest -q -rP tests/test_fault_database_down.py
	$(BIN)/pytest -q tests/test_fault_worker_killed.py tests/test_fault_slow_database.py tests/test_fault_two_instances.py
