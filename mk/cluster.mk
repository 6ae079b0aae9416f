# Local single-node Kubernetes cluster (hack/cluster.py, docs/cluster.md).
# Included by the top-level Makefile. hack/ scripts are stdlib-only: plain python3.
CLUSTER_PY := python3 hack/cluster.py
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

.PHONY: cluster-deps
cluster-deps: ## Install the cluster's apt packages and build its pinned binaries (cached)
	$(CLUSTER_PY) deps
	PATH="$$PATH:$(dir $(GO))" $(CLUSTER_PY) build

.PHONY: cluster-up
cluster-up: cluster-deps ## Bring the local cluster up (idempotent; waits for node Ready)
	PATH="$$PATH:$(dir $(GO))" $(CLUSTER_PY) up

.PHONY: cluster-down
cluster-down: ## Stop exactly what cluster-up started and remove its state (logs are kept)
	$(CLUSTER_PY) down

.PHONY: cluster-status
cluster-status: ## Show the cluster's processes; exit 0 when healthy
	$(CLUSTER_PY) status

.PHONY: kubeconfig
kubeconfig: ## Print the admin kubeconfig path (use with make -s)
	@$(CLUSTER_PY) kubeconfig

# make images-load IMAGE=hlsforge/transcoder:dev CONTEXT=transcoder-image [DOCKERFILE=...]
.PHONY: images-load
images-load: ## docker build IMAGE from CONTEXT and load it into the node's containerd
	$(CLUSTER_PY) image-build $(IMAGE) $(CONTEXT) $(if $(DOCKERFILE),-f $(DOCKERFILE))
