"""Management commands: useful output, clear errors, never a traceback for bad input."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from changetrack.models import Connection

pytestmark = pytest.mark.django_db


def test_create_connection_generates_a_secret_shows_it_once_and_stores_only_its_hash():
    out = StringIO()
    call_command("create_connection", "generic", "scripts", stdout=out)
    text = out.getvalue()
    conn = Connection.objects.get(name="scripts")
    assert conn.webhook_path in text
    secret = text.split("store it in the sender now): ")[1].strip()
    assert secret not in str(conn.secret_hashes) and secret not in conn.secrets_encrypted
    assert conn.secret_store().matches("token", secret)


def test_create_connection_prints_the_webhook_url_under_the_public_url(settings):
    settings.PUBLIC_URL = "https://changetrack.example.com"
    out = StringIO()
    call_command("create_connection", "generic", "public", stdout=out)
    conn = Connection.objects.get(name="public")
    assert f"Webhook URL: https://changetrack.example.com{conn.webhook_path}" in out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "x"], "unknown integration 'nope'"),
        (["generic", "x", "--set", "colour=blue"], "unknown field(s) for generic: colour"),
        (["generic", "x", "--set", "novalue"], "--set expects FIELD=VALUE"),
    ],
)
def test_create_connection_rejects_bad_input_with_a_clear_message(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("create_connection", *args)


def test_replay_with_a_malformed_connection_id_is_a_clear_error():
    with pytest.raises(CommandError, match="not a connection UUID"):
        call_command("replay_deliveries", "--connection", "not-a-uuid")


def test_maintain_partitions_reports_what_it_did():
    out = StringIO()
    call_command("maintain_partitions", stdout=out)
    assert "changetrack_change: created" in out.getvalue()


def test_ensure_superuser_prints_a_login_once_created(tmp_path, monkeypatch):
    from changetrack import embedded

    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path)
    out = StringIO()
    call_command("ensure_superuser", stdout=out)
    assert "username: admin" in out.getvalue() and "password: " in out.getvalue()


def test_poll_runs_one_poll_now_and_prints_what_it_stored(connection_factory, redis_client):
    from datetime import UTC, datetime, timedelta

    from tests.integrations.datadog.fake_api import API_KEY, APP_KEY, event, serve

    with serve() as (fake, url):
        at = datetime.now(UTC) - timedelta(minutes=5)
        fake.events = [
            event("1", at.isoformat(), "Deploy checkout", ["change_kind:deploy"]),
            event("2", at.isoformat(), "Rolled back checkout", ["change_kind:rollback"]),
        ]
        connection_factory(
            "datadog",
            clear={"api_key": API_KEY, "app_key": APP_KEY},
            hashed={"token": "t"},
            config={"events_query": "*", "site": url},
            name="dd events",
        )
        out = StringIO()
        call_command("poll", "dd events", stdout=out)
    text = out.getvalue()
    assert "dd events (datadog): polled" in text
    assert "records: 2 (2 new); by kind: deploy 1, rollback 1" in text
    assert f'state: {{"since": "{at.isoformat()}"}}' in text and "next poll after: " in text
    assert "error" not in text


def test_poll_prints_the_error_of_a_failed_poll(connection_factory, redis_client):
    conn = connection_factory(
        "datadog", hashed={"token": "t"}, config={"events_query": "*", "site": "http://127.0.0.1:9"}
    )
    out = StringIO()
    call_command("poll", str(conn.pk), stdout=out)
    assert "Datadog unreachable: ConnectionError" in out.getvalue()


@pytest.mark.parametrize(
    "ref, message",
    [
        ("nobody", "no connection with id or name 'nobody'"),
        ("00000000-0000-0000-0000-000000000000", "no connection with id or name"),
        ("scripts", "generic connections are not polled"),
    ],
)
def test_poll_of_an_unknown_connection_or_a_source_without_poll_is_a_clear_error(connection_factory, ref, message):
    connection_factory("generic", hashed={"token": "t"}, name="scripts")
    with pytest.raises(CommandError, match=message):
        call_command("poll", ref)
