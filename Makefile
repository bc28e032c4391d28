# `make run`: set everything up and de-identify generated sample recordings.
# `make test`: set everything up and run the whole test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-quick clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py
	bash scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools<81' wheel
	$(PY) -m pip install -q -e '.[test,gcp]'
	touch $@

run: setup
	$(PY) -m pipeline demo --samples demo_input --output out/demo

test: setup
	$(PY) -m pytest -q -ra

test-quick: setup
	$(PY) -m pytest -q -ra -m "not slow"

clean:
	rm -rf out demo_input .pytest_cache
