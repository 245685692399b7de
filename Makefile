# Run `make help` for the targets.
PY ?= .venv/bin/python
DURATION ?= 0
EVENTS ?= 300000
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help install test unit integration lint typecheck schemas demo bench fuzz soak clean dashboard dashboard-png

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: .venv/.installed ## Create .venv and install the project with dev tools

test: install ## Lint, type-check, check contracts, run every test (embedded broker + Redis)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m schemas check
	$(PY) -m pytest -q

unit: install ## Only the pure unit tests (fast, no services)
	$(PY) -m pytest -q tests/unit

integration: install ## Only the tests against the real broker and Redis
	$(PY) -m pytest -q tests/integration tests/e2e

lint: install ## ruff lint + format check
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: install ## mypy --strict on the packages
	$(PY) -m mypy

schemas: install ## Regenerate the JSON Schema files in schemas/json
	$(PY) -m schemas export

demo: install ## Run the product on the embedded stack (DURATION=60 stops by itself)
	$(PY) -m loadtest demo --duration $(DURATION)

bench: install ## Ingest benchmark against baselines; writes bench-ingest.json
	$(PY) -m loadtest bench ingest --events $(EVENTS) --json bench-ingest.json

dashboard: install ## Regenerate the Grafana dashboard JSON from ops/grafana/dashboard.py
	$(PY) -m ops.grafana.dashboard

dashboard-png: install ## Draw the dashboard from a running Prometheus (PROM=url) to docs/dashboard.png
	$(PY) -m ops.render --prometheus $(or $(PROM),http://127.0.0.1:9090) --out docs/dashboard.png

fuzz: install ## Property-based fuzzing of decoding and the pipeline (FUZZ_EXAMPLES per property)
	FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),100000) FUZZ_API_EXAMPLES=$(or $(FUZZ_API_EXAMPLES),2000) \
	  $(PY) -m pytest -q tests/fuzz --timeout=0 --hypothesis-show-statistics

# RATE: half of the whole worker's capacity from `python -m loadtest soak --find-capacity`
# (8,663 events/s on 2026-12-05, see BENCHMARKS.md); measure again on another machine.
# SOAK_ARGS: e.g. "--fetch-max-wait-ms 500 --redis-pool 4000" (why: BENCHMARKS.md, Soak).
# The embedded broker answers a fetch with what it gathers within the wait: at the worker's
# 20 ms default it starves a consumer once its log is large (BENCHMARKS.md, Soak).
soak: install ## 30-min soak of the whole product (MINUTES, RATE, SOAK_ARGS) + a 30 s Redis outage test
	RECO_FAULT_OUTAGE_S=30 $(PY) -m pytest -q tests/integration/test_redis_outage.py --timeout=0
	$(PY) -m loadtest soak --minutes $(or $(MINUTES),30) --rate $(or $(RATE),4300) \
	  $(or $(SOAK_ARGS),--fetch-max-wait-ms 500) \
	  --json soak.json

clean: ## Remove caches (keeps .venv)
	rm -rf .mypy_cache .ruff_cache .pytest_cache build *.egg-info
