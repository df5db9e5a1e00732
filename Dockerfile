# One image for every role of a changetrack install (web, worker, beat, collector, migrate): see
# changetrack/processes.py for the roles and deploy/kubernetes/ for how each container starts.
#
#   make image                                   # podman build, base debian:bookworm-slim from Docker Hub
#   make image BASE=localhost/changetrack-base:bookworm   # a local base (deploy/image/base.sh makes one)
#
# Debian bookworm's own Python 3.11 (what the project supports), so the base is any bookworm root filesystem
# (fully qualified: podman refuses an ambiguous short name without a terminal to ask on).
ARG BASE=docker.io/library/debian:bookworm-slim

# --- stage 1: the virtualenv, built where pip and python3-venv exist -----------------------------------------
FROM ${BASE} AS venv
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# Runtime requirements only (never requirements-dev.txt). The pip cache survives between builds; a build behind a
# TLS-intercepting proxy passes its CA bundle as the build secret `pip-ca` (`make image` does when PIP_CERT is set).
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --disable-pip-version-check --no-warn-script-location -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --yes --quiet setuptools pip \
 && rm -rf /opt/venv/lib/python3.11/site-packages/kubernetes/aio
# kubernetes/aio is the client's asyncio twin (a third of the venv); changetrack uses the synchronous client only

# --- stage 2: the runtime: python3, the venv, the code and its collected static files -----------------------
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 changetrack \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin changetrack
COPY --from=venv /opt/venv /opt/venv
COPY . /app
WORKDIR /app
# Nothing writes outside /tmp at run time (readOnlyRootFilesystem): bytecode is compiled here (pip compiled the
# venv's) and never written later, HOME and beat's schedule live under /tmp, gunicorn's worker heartbeat files too (--worker-tmp-dir).
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CHANGETRACK_DATA_DIR=/tmp/changetrack \
    DJANGO_SETTINGS_MODULE=changetrack.settings \
    DEBUG=false \
    LOG_FORMAT=json
# collectstatic needs the settings, and the settings need a database and broker URL and a key to import (they
# are never contacted): build-only values that exist in this one RUN and nowhere in the image.
RUN DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
    SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput --verbosity 0 \
 && python -m compileall -q -j 0 /app/changetrack /app/integrations \
 && rm -rf /tmp/*
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["python", "-m", "changetrack.processes"]
CMD ["web"]
