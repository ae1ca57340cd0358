# Redis and PostgreSQL for the container smoke test, from Debian packages (no registry pulls).
# Built by hack/container-test-images.sh; run as two containers:
#   redis:     redis-server --bind 0.0.0.0 --protected-mode no --save "" --appendonly no
#   postgres:  --user postgres ... start-postgres  (trust auth, database "atomfleet")
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server postgresql \
 && rm -rf /var/lib/apt/lists/*
COPY start-postgres /usr/local/bin/start-postgres
