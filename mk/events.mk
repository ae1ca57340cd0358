# The event stream's browser test (tests/events/test_browser.py) loads docs/events.md's page in
# headless Chromium, Debian's package.

TEST_PREREQS += chromium-install

.PHONY: chromium-install
chromium-install: ## Install Chromium from the Debian package when missing (needs root or sudo)
	@if command -v chromium >/dev/null 2>&1; then \
	  echo "chromium: $$(chromium --version 2>/dev/null | head -n1)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null && \
	  echo "chromium: installed $$(chromium --version 2>/dev/null | head -n1)"; \
	else \
	  echo "chromium: not installed and no apt-get; the browser test of docs/events.md skips" >&2; \
	fi
