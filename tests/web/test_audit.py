"""The audit log: each audited act, through a page, the admin, the API or a command, writes exactly one entry
naming who, from where and what changed (never a secret); entries cannot be changed or removed; only admins read it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.db import transaction
from django.db.utils import DatabaseError
from django.test import Client

from changetrack import roles
from changetrack.models import Alert, ApiToken, AuditEntry, Change, Connection, Service, ServiceAlias
from changetrack.models.audit import AppendOnly

pytestmark = pytest.mark.django_db


def only_entry(**match) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(**match))
    assert len(entries) == 1, [(e.actor, e.action, e.object_type, e.changes) for e in AuditEntry.objects.all()]
    return entries[0]


def test_a_connection_created_on_its_page_is_audited_once_with_the_user_the_page_and_no_secret(login_as):
    admin = login_as(roles.ADMIN, "ada")
    admin.post("/integrations/new/generic/", {"name": "deploy scripts", "cfg_token": "my-shared-s3cret"})
    conn = Connection.objects.get()
    entry = only_entry(object_type="connection")
    assert (entry.actor, entry.source, entry.ip, entry.action) == ("user:ada", "ui", "127.0.0.1", "create")
    assert entry.object_id == str(conn.pk) and entry.object_repr == "deploy scripts (generic)"
    assert entry.changes["name"] == [None, "deploy scripts"]
    assert entry.changes["secret_hashes"] == [None, "(secret)"]
    stored = json.dumps(entry.changes) + entry.object_repr
    assert "my-shared-s3cret" not in stored and conn.secret_hashes["token"] not in stored


def test_a_connection_created_by_the_command_names_the_command():
    call_command("create_connection", "generic", "CI", stdout=StringIO())
    entry = only_entry(object_type="connection")
    assert entry.actor.startswith("command:create_connection") and entry.source == "command"
    assert entry.ip is None


def test_a_credential_in_a_connections_config_reaches_the_audit_log_scrubbed():
    Connection.objects.create(
        integration="generic", name="hook", config={"url": "https://bot:tok-planted-0123456789@hooks.example.com/x"}
    )
    changes = str(only_entry(object_type="connection").changes)
    assert "tok-planted-0123456789" not in changes and "hooks.example.com" in changes


def test_a_token_created_by_the_command_is_audited_without_its_hash():
    out = StringIO()
    call_command("create_api_token", "deploy pipeline", "--scopes", "read,write", "--rate-limit", "60", stdout=out)
    clear = out.getvalue().strip().splitlines()[-1]
    entry = only_entry(object_type="apitoken")
    assert entry.action == "create" and entry.source == "command"
    assert entry.changes["scopes"] == [None, ["read", "write"]]
    assert entry.changes["rate_limit_per_minute"] == [None, 60]
    token = ApiToken.objects.get()
    assert token.key_hash not in json.dumps(entry.changes) and clear not in json.dumps(entry.changes)


def test_revoking_a_token_in_the_admin_is_one_change_from_the_admin(login_as):
    token, _ = ApiToken.issue("old", ["read"])
    admin = login_as(roles.ADMIN, "ada")
    admin.post(
        "/admin/changetrack/apitoken/", {"action": "revoke", "_selected_action": [token.pk], "index": 0}, follow=True
    )
    entry = only_entry(object_type="apitoken", action="change")
    assert (entry.actor, entry.source) == ("user:ada", "admin")
    assert list(entry.changes) == ["revoked_at"] and entry.changes["revoked_at"][0] is None


def test_mapping_an_unmapped_group_audits_the_new_alias_as_the_responder(login_as):
    service = Service.objects.create(name="payments", namespace="shop")
    login_as(roles.RESPONDER, "rita").post(
        "/unmapped/map/", {"source": "datadog", "match": "datadog_service=payments-api", "service": "shop/payments"}
    )
    alias = ServiceAlias.objects.get()
    entry = only_entry(object_type="servicealias")
    assert (entry.actor, entry.source, entry.action, entry.object_id) == ("user:rita", "ui", "create", str(alias.pk))
    assert entry.changes["service"] == [None, service.pk]


def test_changing_and_deleting_an_alias_in_the_admin_are_audited(login_as):
    service = Service.objects.create(name="payments", namespace="shop")
    alias = ServiceAlias.objects.create(source="", key="name", value="pay", service=service)
    admin = login_as(roles.ADMIN, "ada")
    form = {"source": "", "key": "name", "value": "payments-api", "service": service.pk}
    assert admin.post(f"/admin/changetrack/servicealias/{alias.pk}/change/", form).status_code == 302
    change = only_entry(object_type="servicealias", action="change")
    assert change.changes == {"value": ["pay", "payments-api"]} and change.source == "admin"
    admin.post(f"/admin/changetrack/servicealias/{alias.pk}/delete/", {"post": "yes"})
    deleted = only_entry(object_type="servicealias", action="delete")
    assert deleted.actor == "user:ada" and deleted.object_repr.startswith("*:name=payments-api")


@pytest.fixture
def suspect():
    service = Service.objects.create(name="checkout")
    from django.utils import timezone

    now = timezone.now()
    change = Change.objects.create(
        service=service, kind="deploy", source="api", external_id="c1", summary="deploy", occurred_at=now
    )
    alert = Alert.objects.create(
        service=service, source="api", external_id="a1", title="5xx", started_at=now, last_event_at=now
    )
    return alert, change


def test_a_verdict_on_the_alert_page_is_audited_as_the_responder(login_as, suspect):
    alert, change = suspect
    login_as(roles.RESPONDER, "rita").post(
        f"/alerts/{alert.pk}/feedback/", {"change_id": change.pk, "verdict": "caused"}
    )
    entry = only_entry(object_type="feedback")
    assert (entry.actor, entry.source, entry.action) == ("user:rita", "ui", "create")
    assert entry.changes["verdict"] == [None, "caused"]


def test_a_verdict_through_the_api_names_the_token(client, suspect, redis_client):
    alert, change = suspect
    token, clear = ApiToken.issue("pager bot", ["read", "write"])
    response = client.post(
        f"/api/v1/alerts/{alert.pk}/feedback",
        json.dumps({"change_id": change.pk, "verdict": "unrelated"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {clear}",
    )
    assert response.status_code == 201
    entry = only_entry(object_type="feedback")
    assert (entry.actor, entry.source, entry.ip) == (f"token:pager bot ({token.prefix}…)", "api", "127.0.0.1")


def test_an_entry_cannot_be_changed_or_removed_from_the_app_or_the_database():
    call_command("create_connection", "generic", "CI", stdout=StringIO())
    entry = AuditEntry.objects.get()
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.update(actor="someone else")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    for sql in ("UPDATE changetrack_auditentry SET actor = 'x'", "DELETE FROM changetrack_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), db.cursor() as cur:
            cur.execute(sql)
    assert AuditEntry.objects.get().actor == entry.actor


def test_the_admin_offers_no_way_to_add_change_or_delete_an_entry(login_as):
    call_command("create_connection", "generic", "CI", stdout=StringIO())
    entry = AuditEntry.objects.get()
    admin = login_as(roles.ADMIN)
    assert admin.get(f"/admin/changetrack/auditentry/{entry.pk}/change/").status_code == 200  # shown read-only
    assert admin.post(f"/admin/changetrack/auditentry/{entry.pk}/change/", {"actor": "x"}).status_code == 403
    assert admin.post(f"/admin/changetrack/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get("/admin/changetrack/auditentry/add/").status_code == 403
    assert AuditEntry.objects.get().actor == entry.actor


def test_only_admins_read_the_audit_log_and_it_filters(login_as):
    call_command("create_connection", "generic", "CI", stdout=StringIO())
    ApiToken.issue("reader", ["read"])
    for role in (None, roles.VIEWER, roles.RESPONDER):
        assert login_as(role, f"u-{role}").get("/audit/").status_code == 403
    assert Client().get("/audit/")["Location"].startswith("/login/")
    admin = login_as(roles.ADMIN)
    page = admin.get("/audit/", {"object_type": "connection"})
    assert page.status_code == 200
    assert [e.object_type for e in page.context["page"].object_list] == ["connection"]
    assert "CI (generic)" in page.content.decode()
