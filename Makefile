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

## venv: .venv with the exact versions of requirements.lock, and this checkout installed editable
## (VENV=path for another one). Packages dropped from the lock stay in an existing venv.
LOCK := requirements.lock

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

## lock: re-resolve requirements.lock from pyproject.toml (runtime + dev + build, Python 3.11,
## x86_64 Linux, with hashes), keeping the locked versions that still fit, then update the venv.
## LOCK_ARGS=--upgrade moves everything to the newest versions that fit.
## (manylinux_2_31: bytewax 0.21.1 has no x86_64 wheel for an older glibc.)
.PHONY: lock
lock: $(VENV_STAMP)
	$(VENV)/bin/uv pip compile --quiet pyproject.toml --extra dev --extra build --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_31 --generate-hashes \
	  --custom-compile-command 'make lock' $(LOCK_ARGS) -o $(LOCK)
	@$(MAKE) --no-print-directory venv

## model: build the int8 ONNX embedding models (multilingual-e5-small, the default, and MiniLM)
## into .cache/models (a no-op when up to date)
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

## lint: ruff check, ruff format --check, and mypy over the production packages (pyproject.toml)
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

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
	$(PY) benchmarks/bench_schemas.py
	$(PY) benchmarks/bench_kafka_sink.py
	@if [ -x .cache/bench-venv/bin/python ]; then .cache/bench-venv/bin/python -m benchmarks.bench_embedder; \
	else echo "[bench] no .cache/bench-venv: embedder benchmark skipped (benchmarks/README.md)"; fi

clean: services-down
	rm -rf .cache $(VENV)
