# Observability: Prometheus and promtool for the tests (real scrapes, alert rule unit tests).

# The observability tests scrape a live fleet with a real Prometheus: install it when missing.
TEST_PREREQS += prometheus-install

##@ Observability

.PHONY: prometheus-install
prometheus-install: ## Install prometheus + promtool from Debian packages when missing (needs root or sudo)
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
	  echo "prometheus: $$(prometheus --version 2>&1 | head -n1)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq prometheus >/dev/null && \
	  echo "prometheus: installed $$(prometheus --version 2>&1 | head -n1)"; \
	else \
	  echo "prometheus: not installed and no apt-get; the observability tests that need it skip" >&2; \
	fi

.PHONY: alerts-check
alerts-check: prometheus-install ## promtool check and unit-test the alert rules
	promtool check rules charts/atomfleet/files/alerts/atomfleet-alerts.yaml
	promtool test rules tests/observability/alerts/atomfleet-alerts_test.yaml
