# The one-command local install: images, helm install on the local cluster, port-forward.
# Included by the top-level Makefile. hack/platform.py is stdlib-only: plain python3.
# HLSFORGE_LOCAL_PORT (18080), HLSFORGE_LOCAL_NAMESPACE (hlsforge), HLSFORGE_IMAGE_TAG (dev).
PLATFORM_PY := PATH="$$PATH:$(dir $(GO))" python3 hack/platform.py

# hls.js is bundled with npm (mk/uploader.mk's `web`); install node + npm only when absent.
.PHONY: platform-deps
platform-deps:
	@command -v npm >/dev/null 2>&1 || { echo "installing: nodejs npm"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }

.PHONY: images
images: venv platform-deps web ## Build the transcoder and platform images (local base) into the cluster's node
	$(PLATFORM_PY) images --python $(PYTHON)

.PHONY: up
up: venv platform-deps web ## Local cluster + images + helm install + port-forward; prints the dashboard URL and token
	$(PLATFORM_PY) up --python $(PYTHON)

.PHONY: env
env: ## Print two lines, export HLSFORGE_URL=... and HLSFORGE_TOKEN=... (for eval in a shell)
	@$(PLATFORM_PY) env

.PHONY: down
down: ## Undo `make up`: jobs, release, namespace, media, port-forward (and the cluster if up started it)
	$(PLATFORM_PY) down

.PHONY: chart-docs
chart-docs: ## Regenerate docs/configuration.md from the chart's values.schema.json
	python3 hack/chart_docs.py
