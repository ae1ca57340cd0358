# atomfleet — every developer and operator entry point. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Marker that the virtualenv holds the current pyproject's dependencies.
VENV_STAMP := $(VENV)/.installed

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

$(VENV_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## Create the virtualenv and install atomfleet with dev tools

# Area fragments (chart, observability, image/kind) add targets and may append to TEST_PREREQS.
TEST_PREREQS :=
-include mk/*.mk

##@ Local fleet

.PHONY: demo
demo: $(VENV_STAMP) ## Start a local fleet, run one atom per queue, print results, stop
	$(BIN)/atomfleet demo

.PHONY: dev
dev: $(VENV_STAMP) ## Run the whole fleet locally in the foreground (Ctrl-C stops it)
	$(BIN)/atomfleet dev

##@ Quality

.PHONY: services-up
services-up: ## Start PostgreSQL and Redis on 127.0.0.1 when they do not answer
	hack/services-up.sh

.PHONY: test
test: $(VENV_STAMP) services-up $(TEST_PREREQS) ## Run the whole test suite (real Redis, PostgreSQL, Celery workers, Helm engine)
	$(BIN)/pytest $(PYTEST_ARGS)

# make chaos N=200 [SEED=1]
N ?= 200
SEED ?=

.PHONY: chaos
chaos: $(VENV_STAMP) ## Randomized fault drill: N runs while workers, Redis and PostgreSQL fail (N=200)
	$(BIN)/python -m tests.faults.chaos --runs $(N) $(if $(SEED),--seed $(SEED))

.PHONY: lint
lint: $(VENV_STAMP) ## ruff + mypy
	$(BIN)/ruff check services workers tests k8s-tests bench examples
	ATOMFLEET_DEBUG=true $(BIN)/mypy -p atomfleet -p atomfleet_demo -p atomfleet_orchestrator

