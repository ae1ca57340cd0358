##@ API contract

# make fuzz [FUZZ_EXAMPLES=200] [FUZZ_SEED=]  (an empty seed draws a new one; the run prints it)
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?=

.PHONY: fuzz
fuzz: $(VENV_STAMP) services-up ## Fuzz the live API with schemathesis: FUZZ_EXAMPLES per operation (200), random seed
	ATOMFLEET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ATOMFLEET_FUZZ_SEED=$(FUZZ_SEED) \
	  $(BIN)/pytest tests/contract/test_schemathesis.py -s $(PYTEST_ARGS)
