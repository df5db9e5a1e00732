"""Production posture of the settings: the secret key fails closed, secrets can come from mounted files
(``<NAME>_FILE``), ``PUBLIC_URL`` is validated, and ``check --deploy`` reports a development key."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from changetrack import embedded

REPO = Path(__file__).resolve().parents[1]
PRINT_SETTINGS = (
    "from django.conf import settings as s;"
    " print(s.SECRET_KEY, s.SECRET_KEY_FALLBACKS, s.PUBLIC_URL, s.CHANGETRACK_ADMIN_PASSWORD, sep='|')"
)


def _env(**extra: str) -> dict[str, str]:
    """A production-like environment against this checkout's servers (their URLs as the settings resolved them)."""
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "SECRET_KEY", "PUBLIC_URL"))}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],  # the settings exported the embedded server's
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SETTINGS_MODULE="changetrack.settings",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _settings_of(env: dict[str, str]) -> list[str]:
    done = _manage(env, "shell", "--verbosity", "0", "-c", PRINT_SETTINGS)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split("|")


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set (or SECRET_KEY_FILE) when DEBUG is off"),
        ({"SECRET_KEY": embedded.LEGACY_DEV_SECRET_KEY}, "SECRET_KEY holds a development key"),
        ({"SECRET_KEY": embedded.DEV_SECRET_KEY_PREFIX + "abc" * 20}, "SECRET_KEY holds a development key"),
        ({"SECRET_KEY_FALLBACKS": embedded.LEGACY_DEV_SECRET_KEY}, "SECRET_KEY_FALLBACKS holds a development key"),
        ({"PUBLIC_URL": "changetrack.example.com"}, "PUBLIC_URL must be an absolute http(s) URL"),
        ({"PUBLIC_URL": "ftp://changetrack.example.com"}, "PUBLIC_URL must be an absolute http(s) URL"),
        ({"PUBLIC_URL": "https://changetrack.example.com/?x=1"}, "PUBLIC_URL must be an absolute http(s) URL"),
        ({"PUBLIC_URL": "https://changetrack.example.com/#top"}, "PUBLIC_URL must be an absolute http(s) URL"),
        (
            {"SECRET_KEY": "", "SECRET_KEY_FILE": "/nonexistent/secret-key"},
            "SECRET_KEY_FILE: cannot read /nonexistent/secret-key",
        ),
        (
            {"REDIS_URL": "", "REDIS_URL_FILE": "/nonexistent/redis-url"},
            "REDIS_URL_FILE: cannot read /nonexistent/redis-url",
        ),
    ],
)
def test_with_debug_off_bad_secret_settings_stop_start_up_naming_the_variable(extra, message):
    done = _manage(_env(**extra), "check")
    assert done.returncode != 0
    assert message in done.stderr


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "SECRET_KEY_FALLBACKS", "DATABASE_URL", "REDIS_URL", "CHANGETRACK_ADMIN_PASSWORD"]
)
def test_setting_a_secret_and_its_file_is_an_error_naming_both(name, tmp_path):
    (tmp_path / "value").write_text("whatever\n")
    env = _env(**{f"{name}_FILE": str(tmp_path / "value")})
    env.setdefault(name, "set-too")
    done = _manage(env, "check")
    assert done.returncode != 0
    assert f"set {name} or {name}_FILE, not both" in done.stderr


def test_secrets_are_read_from_mounted_files_without_their_trailing_newline(tmp_path):
    from django.conf import settings

    key, old = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    files = {
        "SECRET_KEY": key,
        "SECRET_KEY_FALLBACKS": f"{old}, {key[::-1]}",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
        "CHANGETRACK_ADMIN_PASSWORD": "first admin's",
    }
    env = _env(SECRET_KEY="", DATABASE_URL="", REDIS_URL="", PUBLIC_URL="https://ct.example.com/")
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")  # as `kubectl create secret --from-file` often stores them
        env[f"{name}_FILE"] = str(tmp_path / name)

    printed_key, fallbacks, public_url, admin_password = _settings_of(env)

    assert printed_key == key
    assert fallbacks == repr([old, key[::-1]])
    assert public_url == "https://ct.example.com"
    assert admin_password == "first admin's"
    assert _manage(env, "check").returncode == 0  # the database and Redis URLs from files work too


def test_embedded_dev_mode_generates_a_private_key_once_and_keeps_it(tmp_path):
    env = _env(DEBUG="true", SECRET_KEY="", CHANGETRACK_DATA_DIR=str(tmp_path))

    first, second = _settings_of(env)[0], _settings_of(env)[0]

    assert first == second != embedded.LEGACY_DEV_SECRET_KEY
    assert first.startswith(embedded.DEV_SECRET_KEY_PREFIX) and len(first) > 60
    assert stat.S_IMODE((tmp_path / "secret-key").stat().st_mode) == 0o600
    other = _settings_of(_env(DEBUG="true", SECRET_KEY="", CHANGETRACK_DATA_DIR=str(tmp_path / "other")))[0]
    assert other != first  # every checkout has its own


def test_check_deploy_reports_the_development_key_as_an_error(tmp_path):
    env = _env(DEBUG="true", SECRET_KEY="", CHANGETRACK_DATA_DIR=str(tmp_path))
    done = _manage(env, "check", "--deploy")
    assert done.returncode != 0
    assert "(changetrack.E001) SECRET_KEY is a development key." in done.stderr


def test_check_deploy_is_clean_with_production_settings_and_a_public_url():
    env = _env(
        ALLOWED_HOSTS="changetrack.example.com",
        CSRF_TRUSTED_ORIGINS="https://changetrack.example.com",
        PUBLIC_URL="https://changetrack.example.com",
        SECRET_KEY_FALLBACKS=secrets.token_urlsafe(50),
    )
    done = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://127.0.0.1:8000", "(changetrack.W001) PUBLIC_URL is http://127.0.0.1:8000"),
        ("http://changetrack.example.com", "(changetrack.W002) PUBLIC_URL is not https"),
    ],
)
def test_check_deploy_warns_about_a_public_url_nobody_else_can_use(url, message):
    env = _env(ALLOWED_HOSTS="changetrack.example.com", PUBLIC_URL=url)
    done = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    assert message in done.stderr


def test_the_sso_client_secret_is_read_from_a_mounted_file(tmp_path):
    (tmp_path / "oidc").write_text("from-the-file\n")
    env = _env(
        OIDC_ISSUER="https://idp.example.com/realms/ops",
        OIDC_CLIENT_ID="changetrack",
        OIDC_CLIENT_SECRET_FILE=str(tmp_path / "oidc"),
        PUBLIC_URL="https://ct.example.com/",
    )
    done = _manage(
        env, "shell", "--verbosity", "0", "-c", "from django.conf import settings; print(settings.SSO.client_secret)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from-the-file"
