# changetrack: `make run` starts everything; `make test` runs the whole suite. Only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint chaos e2e-deps clean-data

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_demo
	$(PY) manage.py serve

test: $(STAMP) e2e-deps
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests need Debian's chromium; install it when missing (CI machines start without it).
e2e-deps:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "WARNING: chromium could not be installed; browser tests will be skipped")

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# fault injection + fuzzing with the figures table (sent/accepted/processed/lost, fuzz cases, 5xx)
chaos: $(STAMP)
	$(PY) -m bench.chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy changetrack integrations
	$(VENV)/bin/lint-imports

clean-data:
	-$(PY) manage.py stop_embedded
	rm -rf .data
