#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on 127.0.0.1; start local ones that are installed
# but stopped. Exits non-zero, saying what is missing, when one cannot be had.
set -u
PG_HOST=${PG_HOST:-127.0.0.1}; PG_PORT=${PG_PORT:-5432}
AMQP_HOST=${AMQP_HOST:-127.0.0.1}; AMQP_PORT=${AMQP_PORT:-5672}

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() {  # name host port seconds
  for _ in $(seq 1 "$4"); do answers "$2" "$3" && return 0; sleep 1; done
  echo "$1 does not answer on $2:$3" >&2; return 1
}

if ! answers "$PG_HOST" "$PG_PORT"; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 30 || {
    echo "Install PostgreSQL (apt-get install postgresql) or run 'make up' with Docker." >&2; exit 1; }
fi

if ! answers "$AMQP_HOST" "$AMQP_PORT"; then
  if command -v rabbitmq-server >/dev/null; then
    echo "starting RabbitMQ..."
    rabbitmq-server -detached || true
  fi
  wait_for RabbitMQ "$AMQP_HOST" "$AMQP_PORT" 60 || {
    echo "Install RabbitMQ (apt-get install rabbitmq-server) or run 'make up' with Docker." >&2; exit 1; }
fi
echo "PostgreSQL and RabbitMQ answer."
