# Benchmarks: `make bench` runs every bench-* part; each prints figures and ratios, never asserts.
# THROUGHPUT_ARGS, TABLES_ARGS and WORKFLOWS_ARGS pass options to their parts; the throughput part
# also reads BENCH_N, BENCH_R and BENCH_THREADS (e.g. `make bench-throughput BENCH_N=200`), the
# workflow part BENCH_WORKFLOW_STEPS and BENCH_R, the submit part SUBMIT_ARGS and BENCH_N. The
# fairness part takes N= (tenant A's backlog), B_SECONDS= (how long tenant B submits) and
# ATOM_SECONDS= (each run's sleep), e.g. `make bench-fairness N=2000 B_SECONDS=30`; FAIRNESS_ARGS
# passes any other option.

THROUGHPUT_ARGS ?=
TABLES_ARGS ?=
WORKFLOWS_ARGS ?=
SSE_ARGS ?=
FAIRNESS_ARGS ?=
SUBMIT_ARGS ?=

##@ Benchmarks

.PHONY: bench bench-throughput bench-tables bench-workflows bench-sse bench-fairness bench-submit
bench: bench-throughput bench-tables bench-workflows bench-sse bench-fairness bench-submit ## Run the benchmarks and print figures and ratios (never asserted)

bench-throughput: $(VENV_STAMP) services-up ## Raw Celery vs the full atomfleet path (chart-started API, beat, worker): throughput, latency, req/s
	$(BIN)/python -m bench.throughput $(THROUGHPUT_ARGS)

bench-tables: $(VENV_STAMP) services-up ## List/filter/detail endpoint latency as the runs table grows (0, 200k per tenant, 1M), with EXPLAIN plans
	$(BIN)/python -m bench.table_growth $(TABLES_ARGS)

bench-workflows: $(VENV_STAMP) services-up ## A 1,000-step fan-out/fan-in workflow vs 1,000 single runs: steps/s, per-step overhead, release latencies; the queries of ending one parent in a 10- vs 1,000-step workflow
	$(BIN)/python -m bench.workflows $(WORKFLOWS_ARGS)

bench-sse: $(VENV_STAMP) services-up ## SSE: 1,000 concurrent streams on one events process (RSS), event commit → client latency p50/p99 at 200 events/s
	$(BIN)/python -m bench.sse $(SSE_ARGS)

# N also has a default for `make chaos` (Makefile): only an N given to this make is A's backlog.
bench-fairness: $(VENV_STAMP) services-up ## Fair dispatch: tenant B's queue wait p50/p95 alone and beside tenant A's 5,000-run backlog, A's throughput, fair dispatch on vs off (N=, B_SECONDS=, ATOM_SECONDS=)
	$(BIN)/python -m bench.fairness $(if $(filter command line environment,$(origin N)),--runs $(N)) \
	  $(if $(B_SECONDS),--b-seconds $(B_SECONDS)) $(if $(ATOM_SECONDS),--atom-seconds $(ATOM_SECONDS)) $(FAIRNESS_ARGS)

bench-submit: $(VENV_STAMP) services-up ## The API's CPU per POST in-process (WSGI app called directly, 2,000 submits, batches of 100), with a cProfile breakdown
	$(BIN)/python -m bench.submit_cpu $(SUBMIT_ARGS)
