# The two commands (README): `make claims` runs the claims and writes the report;
# `make test` runs the unit tests and the smoke tier of the claims. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
REPORT ?= reports/latest
# The smoke-tier baseline `make test` gates on (README: "This repository's baseline").
BASELINE ?= claims/baseline-smoke.json
PYTEST_ARGS ?=

.PHONY: claims test baseline bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(INSTALLED): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

claims: $(INSTALLED)
	@$(PY) -m pytest claims --scaling-tier=standard --scaling-report=$(REPORT) $(PYTEST_ARGS); \
	status=$$?; echo "Claim report: $(REPORT)/report.html ($(REPORT)/report.md, $(REPORT)/report.json, figures in $(REPORT)/figures)"; \
	exit $$status

test: $(INSTALLED)
	$(PY) -m pytest tests claims --scaling-tier=smoke --benchmark-disable --scaling-baseline=$(BASELINE) $(PYTEST_ARGS)

# Rewrite $(BASELINE) from scratch: the smoke tier trained in a fresh store, so it holds what a
# fresh CI machine measures, and no entry of a claim that is gone.
baseline: $(INSTALLED)
	@store=$$(mktemp -d); rm -f $(BASELINE); \
	$(PY) -m pytest claims --scaling-tier=smoke --benchmark-disable --scaling-store=$$store/runs.sqlite \
	  --scaling-baseline=$(BASELINE) --scaling-update-baseline $(PYTEST_ARGS); \
	status=$$?; rm -rf $$store; exit $$status

# Benchmarks with timings (pytest-benchmark); ratios and MFU are in each case's extra_info.
bench: $(INSTALLED)
	$(PY) -m pytest tests/benchmarks --benchmark-only $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports .scaling .pytest_cache .benchmarks
