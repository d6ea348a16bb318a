# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-unit lint coverage bench shell operator migrate demo infra tools deps up down clean backup restore

# Command-line tools the tests use, installed by apt-get when missing (scripts/ensure_tools.sh;
# `command=package` when the names differ).
# chromium: the booking page in a real browser (tests/browser); promtool (Debian's prometheus
# package, not started): the alert rules and the scrape config (tests/unit/test_monitoring_files.py)
TEST_TOOLS := docker-compose chromium promtool=prometheus

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

deps: $(STAMP)

infra:
	@scripts/ensure_infra.sh

tools:
	@scripts/ensure_tools.sh $(TEST_TOOLS)

migrate: deps infra
	$(PY) -m services.common.migrate

demo: migrate
	$(PY) -m services.booking.demo_data

## Start every service and the gateway (Ctrl-C stops them all).
run: demo
	$(PY) -m scripts.run

## The whole test suite against the local PostgreSQL and RabbitMQ (own databases and vhost),
## after the linter.
test: deps lint infra tools
	$(PY) -m pytest $(PYTEST_ARGS)

## The pure logic, the contracts and the gateway in-process: no RabbitMQ, no PostgreSQL.
# The plugins only the system tests use are not loaded (3 s of the start-up), and the property
# tests draw a fifth of their examples (tests/properties.py); `make test` draws them all.
UNIT_SKIPPED_PLUGINS := -p no:schemathesis -p no:playwright -p no:anyio -p no:nameko_sqlalchemy
test-unit: deps
	PROPERTY_EXAMPLES=quick $(PY) -m pytest tests/unit -q $(UNIT_SKIPPED_PLUGINS) $(PYTEST_ARGS)

## ruff (pinned in requirements.txt, rules in ruff.toml).
lint: deps
	$(VENV)/bin/ruff check .

## The suite under coverage (.coveragerc: eventlet concurrency), the service processes the
## tests start included (COVERAGE_PROCESS_START and a .pth hook in the venv, inert without
## it); report in the terminal and htmlcov/.
coverage: deps infra tools
	echo "import coverage; coverage.process_startup()" > \
		"$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/studio_coverage.pth"
	rm -f .coverage .coverage.*
	COVERAGE_PROCESS_START=$(CURDIR)/.coveragerc $(VENV)/bin/coverage run -m pytest \
		-m "not broker_restart" $(PYTEST_ARGS)
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report
	$(VENV)/bin/coverage html -q

## Benchmarks; figures go to bench/results/ and the README table.
bench: deps infra
	@scripts/ensure_tools.sh wrk
	$(PY) -m bench.run

## The four databases into one dated archive under backups/ (pg_dump; see scripts/backup.py)
backup: deps
	$(PY) -m scripts.backup backup

## make restore FILE=backups/studio-....tar: the databases made anew from it (stop the system first)
restore: deps
	$(PY) -m scripts.backup restore "$(FILE)"

## nameko shell for operators: n.rpc.booking.list_bookings(...)
shell: deps
	$(VENV)/bin/nameko shell --config config.yaml

## A dashboard operator: make operator NAME=anna ROLE=manager (asks for the password)
operator: deps
	$(PY) -m scripts.operator "$(NAME)" "$(ROLE)"

# containers for development (docker-compose.override.yml: mounted code, a mail catcher);
# production is `docker compose -f docker-compose.yml up -d` (docs/OPERATIONS.md)
up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
