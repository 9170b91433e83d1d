#!/usr/bin/env bash
# Starts the local PostgreSQL and RabbitMQ if they are down, and waits until both accept connections.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "services-up: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
fi
for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432

if ! as_root rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
  echo "services-up: starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  as_root rabbitmqctl -q await_startup --timeout 120
fi
as_root rabbitmq-diagnostics -q check_port_connectivity
echo "services-up: PostgreSQL and RabbitMQ are up"
