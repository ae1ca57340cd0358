# Benchmarks: `make bench` runs every bench-* part; BENCH_ARGS passes options to the metrics part.

BENCH_ARGS ?=

##@ Benchmarks

.PHONY: bench bench-metrics
bench: bench-metrics ## Run the benchmarks and print figures and ratios (never asserted)

bench-metrics: $(VENV_STAMP) services-up ## Metrics overhead (same workload off vs on) and scrape latency after hundreds of recycled children
	$(BIN)/python -m bench.metrics $(BENCH_ARGS)
