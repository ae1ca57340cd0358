# Container image: `make image`, and the Docker engine that `make test` uses for the container
# smoke test (tests/container).

IMAGE ?= atomfleet
TAG ?= 0.1.0
# Standard base; the smoke test overrides it with a locally made Debian base (no registry here).
BASE_IMAGE ?= python:3.11-slim
DOCKER ?= docker
# Extra `docker build` flags, e.g. DOCKER_BUILD_FLAGS="--network host --no-cache".
DOCKER_BUILD_FLAGS ?=

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

.PHONY: docker-up
docker-up: ## Start a Docker engine for the container smoke test where possible (root + Debian)
	@hack/docker-up.sh

.PHONY: test-container
test-container: $(VENV_STAMP) docker-up ## Run only the container smoke test (builds the image)
	$(BIN)/pytest tests/container $(PYTEST_ARGS)
