# changetrack: `make run` starts everything; `make test` runs the whole suite. Only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
comma := ,
STAMP := $(VENV)/.installed

.PHONY: run test bench lint chaos e2e-deps image-deps image clean-data

# Development and CI install requirements-dev.txt (it includes requirements.txt); a production image installs only
# requirements.txt.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_demo
	$(PY) manage.py serve

test: $(STAMP) e2e-deps image-deps
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests need Debian's chromium; install it when missing (CI machines start without it).
e2e-deps:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "WARNING: chromium could not be installed; browser tests will be skipped")

# The image and manifest tests need podman, buildah and debootstrap (build and smoke-run the image) and kubectl
# (kustomize); install what is missing, like chromium above. kubectl comes from the Kubernetes (or Google Cloud) apt
# repository when one is configured (Debian's kubernetes-client 1.20 predates the Kustomize the manifests use);
# without it the manifest tests skip, saying so.
IMAGE_TOOLS := podman buildah debootstrap
image-deps:
	@missing=""; for t in $(IMAGE_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	command -v kubectl >/dev/null 2>&1 || ! apt-cache show kubectl >/dev/null 2>&1 || missing="$$missing kubectl"; \
	[ -z "$$missing" ] || (command -v apt-get >/dev/null 2>&1 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	  || echo "WARNING:$$missing could not be installed; the image or manifest tests will be skipped"
	@command -v kubectl >/dev/null 2>&1 || echo "WARNING: no kubectl (add the Kubernetes apt repository); the manifest tests will be skipped"

# The container image (Dockerfile). BASE=localhost/changetrack-base:bookworm builds from the local base that
# deploy/image/base.sh makes with debootstrap (no registry needed). Behind a TLS-intercepting proxy, PIP_CERT (the
# CA bundle pip already uses) is handed to the build as a secret, never stored in a layer.
IMAGE ?= localhost/changetrack:latest
BASE ?= docker.io/library/debian:bookworm-slim
image:
	podman build --isolation=chroot --build-arg BASE=$(BASE) $(if $(PIP_CERT),--secret id=pip-ca$(comma)src=$(PIP_CERT)) -t $(IMAGE) .

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# fault injection + fuzzing with the figures table (sent/accepted/processed/lost, fuzz cases, 5xx)
chaos: $(STAMP)
	$(PY) -m bench.chaos $(CHAOS_ARGS)

# ruff (lint + format), mypy, and the architecture contracts of pyproject.toml ([tool.importlinter])
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy changetrack integrations
	$(VENV)/bin/lint-imports

clean-data:
	-$(PY) manage.py stop_embedded
	rm -rf .data
