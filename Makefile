# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)

.PHONY: run test bench shell migrate demo infra deps up down clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

deps: $(STAMP)

infra:
	@scripts/ensure_infra.sh

migrate: deps infra
	$(PY) -m services.common.migrate

demo: migrate
	$(PY) -m services.booking.demo_data

## Start every service and the gateway (Ctrl-C stops them all).
run: demo
	$(PY) -m scripts.run

## The whole test suite against the local PostgreSQL and RabbitMQ (own databases and vhost).
test: deps infra
	$(PY) -m pytest $(PYTEST_ARGS)

## Benchmarks; figures go to bench/results/ and the README table.
bench: deps infra
	@scripts/ensure_tools.sh
	$(PY) -m bench.run

## nameko shell for operators: n.rpc.booking.list_bookings(...)
shell: deps
	$(VENV)/bin/nameko shell --config config.yaml

up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
