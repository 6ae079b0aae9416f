# The uploader's build-time JavaScript and the browser test's system package.
# Included by the top-level Makefile. node_modules and the copied bundle are gitignored.
UPLOADER_WEB    := uploader/web
UPLOADER_VENDOR := uploader/hlsforge_uploader/static/vendor
UPLOADER_APT_PACKAGES := chromium

# npm ci only when the lock changed since the last install (node_modules/.package-lock.json
# is npm's own record of what it installed); npm's cache stays in ~/.npm, outside the repo.
$(UPLOADER_WEB)/node_modules/.package-lock.json: $(UPLOADER_WEB)/package.json $(UPLOADER_WEB)/package-lock.json
	cd $(UPLOADER_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UPLOADER_VENDOR)/hls.min.js: $(UPLOADER_WEB)/node_modules/.package-lock.json
	mkdir -p $(UPLOADER_VENDOR)
	cp $(UPLOADER_WEB)/node_modules/hls.js/dist/hls.min.js $@

.PHONY: web
web: $(UPLOADER_VENDOR)/hls.min.js ## Install the dashboard's npm deps (npm ci) and bundle hls.js

.PHONY: uploader-deps
uploader-deps: ## Install Debian's chromium (browser test) and, if absent, node + npm (idempotent)
	@missing=""; for p in $(UPLOADER_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
