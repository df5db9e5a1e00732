"""The image's entry point: which program each role runs (``python -m changetrack.processes ROLE``)."""

from __future__ import annotations

import sys
from pathlib import Path

from changetrack import processes


def test_the_web_role_is_gunicorn_on_every_interface_with_the_configured_port_and_workers(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("TMPDIR", raising=False)
    argv = processes.command("web", [])
    assert Path(argv[0]) == Path(sys.executable).parent / "gunicorn"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8123"
    assert argv[argv.index("--workers") + 1] == "5"
    assert argv[argv.index("--worker-tmp-dir") + 1] == "/tmp"  # noqa: S108 - the image's one writable place


def test_beat_keeps_its_schedule_in_the_data_directory_which_it_creates(monkeypatch, tmp_path):
    monkeypatch.setenv("CHANGETRACK_DATA_DIR", str(tmp_path / "data"))
    argv = processes.command("beat", [])
    assert argv[argv.index("--schedule") + 1] == str(tmp_path / "data" / "celerybeat-schedule")
    assert (tmp_path / "data").is_dir()


def test_any_other_role_is_a_manage_py_command_with_its_arguments():
    argv = processes.command("collect_kubernetes", ["--in-cluster", "--cluster-name=prod"])
    assert argv == [sys.executable, str(Path(processes.__file__).parent.parent / "manage.py"), "collect_kubernetes"] + [
        "--in-cluster",
        "--cluster-name=prod",
    ]
    assert processes.command("worker", ["-Q", "x"])[-2:] == ["-Q", "x"]
