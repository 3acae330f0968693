# Two entry points for a fresh machine: `make serve` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: serve test lint bench proto docs install install-dev install-gpu clean

# The serving path only: onnxruntime, tokenizers, numpy, grpc. No torch.
$(BIN)/.serve-installed: pyproject.toml setup.py $(wildcard proto/storyteller/v1/*.proto)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e .
	touch $@

# Everything, for tests and offline work: + export (torch==2.13.0 CPU), graph pictures, dev tools.
$(BIN)/.dev-installed: $(BIN)/.serve-installed
	$(BIN)/python -m pip install -e ".[export,graph,ray,dev]"
	$(BIN)/python -m pip check
	touch $@

install: $(BIN)/.serve-installed
install-dev: $(BIN)/.dev-installed

## make serve: create .venv, install, start the server on the bundled models (ARGS="--help" for flags)
serve: install
	$(BIN)/storyteller serve $(ARGS)

## make lint: ruff's checks over the tree and mypy over narrative/ and server/ (pyproject.toml configures both)
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

## make test: create .venv, install with the test tools, lint, run the whole suite
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: benchmarks (figures printed side by side; never pass/fail)
bench: install-dev
	$(BIN)/python -m benchmarks

## make proto: regenerate the Python stubs after editing proto/ (the build does it too)
proto: install
	$(BIN)/python -m pip install -q --no-deps -e .

## make docs: regenerate docs/api.md, the API reference, from the .proto comments
docs: install-dev
	$(BIN)/python docs/generate_api.py

## make install-gpu: swap onnxruntime for onnxruntime-gpu (they share one package folder)
install-gpu: install
	$(BIN)/python -m pip uninstall -y onnxruntime
	$(BIN)/python -m pip install --force-reinstall --no-deps "onnxruntime-gpu==1.31.1"

clean:
	rm -rf $(VENV) build *.egg-info proto/storyteller/v1/*_pb2*.py proto/storyteller/v1/*_pb2.pyi
