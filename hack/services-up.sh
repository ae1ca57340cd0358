#!/usr/bin/env bash
# Start the PostgreSQL and Redis that the test suite talks to, when they do not already answer.
# On python-svc machines (and CI) both run already; on a laptop this needs the Debian packages
# `postgresql` and `redis-server` (or point ATOMFLEET_TEST_DATABASE_URL / ATOMFLEET_TEST_REDIS_URL
# at your own).
set -euo pipefail

redis_ok() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

if [[ -n "${ATOMFLEET_TEST_REDIS_URL:-}" ]]; then
  echo "redis: using ATOMFLEET_TEST_REDIS_URL"
elif redis_ok; then
  echo "redis: answering on 127.0.0.1:6379"
else
  command -v redis-server >/dev/null || { echo "redis-server is not installed: apt-get install redis-server" >&2; exit 1; }
  mkdir -p /tmp/atomfleet-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/atomfleet-redis --logfile /tmp/atomfleet-redis/redis.log
  for _ in $(seq 50); do redis_ok && break; sleep 0.1; done
  redis_ok || { echo "redis did not start: see /tmp/atomfleet-redis/redis.log" >&2; exit 1; }
  echo "redis: started on 127.0.0.1:6379"
fi

if [[ -n "${ATOMFLEET_TEST_DATABASE_URL:-}" ]]; then
  echo "postgres: using ATOMFLEET_TEST_DATABASE_URL"
elif pg_ok; then
  echo "postgres: answering on 127.0.0.1:5432"
else
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "PostgreSQL is not installed: apt-get install postgresql (or set ATOMFLEET_TEST_DATABASE_URL)" >&2
    exit 1
  fi
  for _ in $(seq 100); do pg_ok && break; sleep 0.1; done
  pg_ok || { echo "postgres did not start" >&2; exit 1; }
  echo "postgres: started on 127.0.0.1:5432"
fi
