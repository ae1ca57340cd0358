# kind workflow: a local cluster from a checked-in config, the image loaded into it, the monitoring
# and autoscaling stack, the chart deployed with values/kind.yaml, and the cluster tests.
#   make kind-tools kind-up image kind-load monitoring-up deploy e2e     (or: make kind-e2e)
# Needs Docker with cgroup v2 (the pinned node image, Kubernetes 1.35, has no cgroup v1 support).

CLUSTER ?= atomfleet
RELEASE ?= atomfleet
NAMESPACE ?= atomfleet
# Pinned tools (`make kind-tools` downloads exactly these into TOOLS_DIR).
KIND_VERSION ?= v0.31.0
KIND_NODE_IMAGE ?= kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f
KUBECTL_VERSION ?= v1.35.0
HELM_VERSION ?= v3.20.2
# Pinned charts of `make monitoring-up`.
KPS_VERSION ?= 88.2.0
KEDA_VERSION ?= 2.20.2
ADAPTER_VERSION ?= 5.2.0
# keda: KEDA ScaledObjects (default); hpa: prometheus-adapter External metrics, no KEDA.
AUTOSCALER ?= keda
TOOLS_DIR ?= $(CURDIR)/$(VENV)/tools/bin

# The scripts find the pinned tools first, then whatever is on PATH.
KIND_ENV = PATH="$(TOOLS_DIR):$$PATH" CLUSTER=$(CLUSTER) RELEASE=$(RELEASE) NAMESPACE=$(NAMESPACE) \
  KIND_VERSION=$(KIND_VERSION) KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) KUBECTL_VERSION=$(KUBECTL_VERSION) \
  HELM_VERSION=$(HELM_VERSION) IMAGE=$(IMAGE) TAG=$(TAG) DOCKER=$(DOCKER)

##@ kind cluster (local Kubernetes)

.PHONY: kind-tools
kind-tools: ## Download the pinned kind, kubectl and helm into .venv/tools/bin
	@TOOLS_DIR=$(TOOLS_DIR) $(KIND_ENV) hack/kind-tools.sh

.PHONY: kind-up
kind-up: ## Create the kind cluster (1 control plane, 2 workers, one fake GPU node)
	@$(KIND_ENV) hack/kind-up.sh

.PHONY: kind-gpu
kind-gpu: ## Re-advertise the fake nvidia.com/gpu capacity on the kind GPU node
	@PATH="$(TOOLS_DIR):$$PATH" hack/kind/fake-gpu.sh

.PHONY: kind-load
kind-load: ## Load the image (IMAGE:TAG) into the kind nodes (build it first: make image)
	@$(KIND_ENV) IMAGE_REF=$(IMAGE):$(TAG) hack/kind-load.sh

.PHONY: monitoring-up
monitoring-up: ## Install kube-prometheus-stack, KEDA, prometheus-adapter (pinned; AUTOSCALER=keda|hpa)
	@$(KIND_ENV) KPS_VERSION=$(KPS_VERSION) KEDA_VERSION=$(KEDA_VERSION) \
	  ADAPTER_VERSION=$(ADAPTER_VERSION) AUTOSCALER=$(AUTOSCALER) hack/monitoring-up.sh

.PHONY: deploy
deploy: ## helm upgrade --install --wait with values/kind.yaml (+ kind-hpa.yaml when AUTOSCALER=hpa; dumps pods and logs on failure)
	@$(KIND_ENV) AUTOSCALER=$(AUTOSCALER) hack/deploy.sh

.PHONY: dump
dump: ## Print the release's objects, described pods, events and last logs
	@$(KIND_ENV) hack/dump-release.sh

# The cluster tests act on the cluster KUBECONFIG names (they uninstall the release): only here,
# never in `make test`. Without a cluster or a release this fails with one line saying why.
E2E_ENV = $(KIND_ENV) ATOMFLEET_E2E=1 ATOMFLEET_E2E_RELEASE=$(RELEASE) ATOMFLEET_E2E_NAMESPACE=$(NAMESPACE)

.PHONY: e2e
e2e: $(VENV_STAMP) ## Run the cluster tests (k8s-tests/cluster, helm test included) against the release in KUBECONFIG's cluster
	@$(E2E_ENV) $(BIN)/python k8s-tests/cluster/preflight.py
	@$(E2E_ENV) $(BIN)/pytest k8s-tests/cluster -v $(PYTEST_ARGS)

.PHONY: kind-e2e
kind-e2e: kind-tools kind-up image kind-load monitoring-up deploy e2e ## The whole kind path: tools, cluster, image, stack, deploy, e2e

.PHONY: kind-down
kind-down: ## Delete the kind cluster
	@$(KIND_ENV) bash -c 'source hack/kind/lib.sh; need kind; "$$KIND" delete cluster --name "$$CLUSTER"'
