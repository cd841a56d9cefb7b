# The two set-up commands of the README are `make run` and `make test`; everything else here
# is what they are made of. Both work on a new Debian 12 machine with Python 3.11 (root or sudo).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test system-deps venv build lint typecheck bench clean

run: build  ## run the box on the simulated board with live traffic
	$(VENV)/bin/callbox run $(ARGS)

test: build lint typecheck  ## what .ci/run runs
	$(PY) -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS) tests

system-deps:
	image/install-packages image/packages-run.txt image/packages-dev.txt

$(VENV)/.installed: pyproject.toml setup.py | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.26"
	$(PY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $@

venv: $(VENV)/.installed

build: venv system-deps  ## compile the DSP kernels in place (incremental)
	$(PY) setup.py -q build_ext --inplace -j 2

lint: venv
	$(VENV)/bin/ruff check firmware board cython_ext tests hw-tests setup.py
	$(VENV)/bin/ruff format --check firmware board cython_ext tests hw-tests setup.py

typecheck: venv
	$(VENV)/bin/mypy firmware board

bench: build  ## every benchmark in tests/bench, side by side with the references
	for b in tests/bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build $(VENV) cython_ext/*.c cython_ext/*.so
