# One command each from a fresh clone: `make bench` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUITE ?= suites/quick.toml

.PHONY: bench test test-reliability reliability-report lint typecheck install clean-venv

# requirements-nodeps.txt is installed with --no-deps: apache-otava's change-point module needs
# only numpy and scipy, but the package's own requirements would downgrade both and add cloud
# clients; a requirements file cannot say --no-deps, so it gets a pip call of its own.
$(VENV)/.installed: requirements.txt requirements-server.txt requirements-dev.txt requirements-nodeps.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

install: $(VENV)/.installed

bench: $(VENV)/.installed
	$(PY) run_bench.py run $(SUITE)

# Test processes of `make test` (pytest-xdist). Three on two cores: most tests spend their time
# waiting on the servers and Locust processes they start, and a third process fills that wait
# (on two cores: 12 min 51 s in one process, 8 min 7 s in two, 6 min 10 s in three). Each test
# file stays in one process (--dist loadfile): its module fixtures start once.
TEST_WORKERS ?= 3

# Everything but the slow attack series (those run in test-reliability).
test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

# Every attack on the harness and the servers, and every slow test (about 6 minutes).
test-reliability: $(VENV)/.installed
	$(PY) -m pytest -m "reliability or slow"

# The attacks as measurements: a table of figures per attack family.
reliability-report: $(VENV)/.installed
	$(PY) -m tests.reliability.figures

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The type checker over the product code (pyproject.toml [tool.mypy]; tests are not checked).
typecheck: $(VENV)/.installed
	$(PY) -m mypy

clean-venv:
	rm -rf $(VENV)
