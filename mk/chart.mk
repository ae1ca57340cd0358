# Helm chart (charts/atomfleet): render, lint, values table, checkov tool venv.
# Included by the top-level Makefile (-include mk/*.mk).

##@ Helm chart

# checkov pins many packages: it gets its own tool virtualenv, outside the project's .venv.
CHECKOV_VERSION ?= 3.2.533
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# make render VALUES="values/kind.yaml values/cpu-only.yaml"
VALUES ?=

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_STAMP) ## Tool virtualenv with checkov (the chart tests scan rendered manifests)

.PHONY: render
render: $(VENV_STAMP) ## Print the chart's manifests with the real Helm engine (VALUES="values/kind.yaml ...")
	@$(BIN)/python hack/render.py $(foreach f,$(VALUES),-f $(f))

.PHONY: chart-lint
chart-lint: $(VENV_STAMP) ## helm lint --strict: defaults and every values/ file
	$(BIN)/python hack/render.py --lint

.PHONY: chart-readme
chart-readme: $(VENV_STAMP) ## Regenerate the values table of charts/atomfleet/README.md from values.yaml
	$(BIN)/python hack/render.py --write-readme

.PHONY: chart-test
chart-test: $(VENV_STAMP) $(CHECKOV_STAMP) ## Run only the chart tests (k8s-tests/)
	$(BIN)/pytest k8s-tests $(PYTEST_ARGS)

TEST_PREREQS += $(CHECKOV_STAMP)
