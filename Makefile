# Headwater's dev loop. Every target works from a fresh clone and again in a row.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
SERVICES := deploy/local/services.sh

.PHONY: run test venv model services services-down services-status kafka weaviate redis topics \
        lint bench clean

## run: set everything up and run the embedded pipeline on the bundled sample
run: venv model services
	$(PY) -m flows.demo

## test: set everything up and run the whole suite (unit + integration)
test: venv model services
	$(PY) -m pytest

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,build]'
	@touch $@

## model: build the int8 ONNX embedding model into .cache/models (a no-op when up to date)
model: $(VENV_STAMP)
	@$(PY) -m models.build

## services: start Kafka, Weaviate and Redis on 127.0.0.1 and create the topics
services: kafka weaviate redis topics

kafka weaviate redis:
	@$(SERVICES) up $@

topics: $(VENV_STAMP) kafka
	@$(PY) -m flows.topics

## services-down: stop what this checkout started
services-down:
	@$(SERVICES) down

services-status:
	@$(SERVICES) status

lint: venv
	$(PY) -m ruff check .

## bench: the benchmarks of benchmarks/README.md (long: tens of minutes); the embedder's
## needs torch in .cache/bench-venv (see benchmarks/README.md) and is skipped without it
bench: venv model services
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_pii.py
	$(PY) benchmarks/bench_embedder_threads.py
	$(PY) -m benchmarks.bench_drift
	$(PY) benchmarks/bench_freshness.py
	$(PY) benchmarks/bench_index_bulk.py --lines 20000
	$(PY) benchmarks/bench_segment_vectors.py
	@if [ -x .cache/bench-venv/bin/python ]; then .cache/bench-venv/bin/python -m benchmarks.bench_embedder; \
	else echo "[bench] no .cache/bench-venv: embedder benchmark skipped (benchmarks/README.md)"; fi

clean: services-down
	rm -rf .cache $(VENV)
