# Container image: `make image`, its lock file (`make lock`), a multi-arch build, and the Docker
# engine that `make test` uses for the container tests (tests/container).

IMAGE ?= atomfleet
TAG ?= 0.1.0
# Standard base; the smoke test overrides it with a locally made Debian base (no registry here).
BASE_IMAGE ?= python:3.11-slim
DOCKER ?= docker
# Extra `docker build` flags, e.g. DOCKER_BUILD_FLAGS="--network host --no-cache".
DOCKER_BUILD_FLAGS ?=
# `make image-multiarch`: platforms of the pushed manifest list.
PLATFORMS ?= linux/amd64,linux/arm64
# The lock tool (uv), in a tool virtualenv of its own.
UV_VERSION ?= 0.13.9
LOCK_VENV ?= .venv-lock
LOCK_STAMP := $(LOCK_VENV)/.installed-uv-$(UV_VERSION)

# The container smoke test needs an engine: install/start one where possible, never fail.
TEST_PREREQS += docker-up

##@ Image

.PHONY: image
image: ## Build the image atomfleet:0.1.0 (override IMAGE, TAG, BASE_IMAGE)
	$(DOCKER) build $(DOCKER_BUILD_FLAGS) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  --build-arg VERSION=$(TAG) \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	  -t $(IMAGE):$(TAG) .

.PHONY: image-multiarch
image-multiarch: ## docker buildx: build IMAGE:TAG for PLATFORMS (amd64+arm64) and push the manifest list
	$(DOCKER) buildx build $(DOCKER_BUILD_FLAGS) --platform $(PLATFORMS) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  --build-arg VERSION=$(TAG) \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	  -t $(IMAGE):$(TAG) --push .

$(LOCK_STAMP):
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'
	touch $@

.PHONY: lock
lock: $(LOCK_STAMP) ## Regenerate requirements.lock (the image's packages, hashed, amd64+arm64) from pyproject.toml
	$(PYTHON) hack/lock.py write --uv $(LOCK_VENV)/bin/uv

.PHONY: docker-up
docker-up: ## Start a Docker engine for the container smoke test where possible (root + Debian)
	@hack/docker-up.sh

.PHONY: test-container
test-container: $(VENV_STAMP) $(HELM_TOOLS_STAMP) docker-up ## Run only the container tests: smoke test and production rehearsal (build the image)
	$(BIN)/pytest tests/container $(PYTEST_ARGS)
