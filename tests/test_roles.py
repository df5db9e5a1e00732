"""The role groups and their permissions (``changetrack.roles``), and the commands that give people roles."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command

from changetrack import roles
from changetrack.models import AuditEntry

pytestmark = pytest.mark.django_db


def holds(role: str) -> set[str]:
    return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)  # has_perm caches: read the user again


def test_each_role_holds_its_rights_and_those_below_it():
    viewer, responder, admin = holds(roles.VIEWER), holds(roles.RESPONDER), holds(roles.ADMIN)
    assert {"view_change", "view_alert", "view_service", "view_connection"} <= viewer
    assert not {"add_feedback", "add_connection", "view_auditentry", "view_apitoken"} & viewer
    assert viewer < responder and {"add_feedback", "map_unmapped", "replay_delivery"} <= responder
    assert not {"add_connection", "add_servicealias", "manage_notifications"} & responder
    assert responder < admin
    assert {"add_connection", "delete_connection", "change_apitoken", "add_servicealias"} <= admin
    assert {"manage_notifications", "view_auditentry"} <= admin
    assert not {"add_auditentry", "change_auditentry", "delete_auditentry"} & admin


def test_ensure_roles_is_idempotent_and_grants_a_model_added_later_to_admins():
    before = {r: holds(r) for r in roles.ROLES}
    roles.ensure_roles()
    roles.ensure_roles()
    assert {r: holds(r) for r in roles.ROLES} == before
    assert Group.objects.filter(name__in=roles.ROLES).count() == 3
    ct, _ = ContentType.objects.get_or_create(app_label="changetrack", model="notificationrule")
    Permission.objects.create(content_type=ct, codename="add_notificationrule", name="Can add notification rule")
    Permission.objects.create(content_type=ct, codename="view_notificationrule", name="Can view notification rule")
    roles.ensure_roles()
    assert "add_notificationrule" in holds(roles.ADMIN) and "add_notificationrule" not in holds(roles.RESPONDER)
    assert "view_notificationrule" in holds(roles.VIEWER)


def test_set_role_gives_one_role_and_makes_only_admins_staff(django_user_model):
    user = django_user_model.objects.create_user("dana")
    roles.set_role(user, roles.ADMIN)
    assert roles.role_of(fresh(user)) == roles.ADMIN and fresh(user).is_staff
    assert fresh(user).has_perm(roles.MANAGE_CONNECTIONS)
    roles.set_role(user, roles.VIEWER)
    assert roles.role_of(fresh(user)) == roles.VIEWER and not fresh(user).is_staff
    assert fresh(user).has_perm(roles.READ) and not fresh(user).has_perm(roles.RECORD_VERDICT)
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        roles.set_role(user, "owner")


def test_the_make_run_admin_is_an_admin(monkeypatch, tmp_path):
    from changetrack import embedded

    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path)
    monkeypatch.setenv("CHANGETRACK_ADMIN_USER", "boss")
    call_command("ensure_superuser", stdout=StringIO())
    boss = get_user_model().objects.get(username="boss")
    assert roles.role_of(boss) == roles.ADMIN and boss.groups.filter(name=roles.ADMIN).exists()


def test_create_user_prints_a_generated_password_once_that_logs_in():
    out = StringIO()
    call_command("create_user", "reader", "--role", "viewer", stdout=out)
    lines = out.getvalue().strip().splitlines()
    password = lines[-1]
    assert "viewer" in lines[0] and len(password) >= 20 and out.getvalue().count(password) == 1
    user = authenticate(username="reader", password=password)
    assert user is not None and roles.role_of(user) == roles.VIEWER and not user.is_staff
    entry = AuditEntry.objects.filter(object_type="user")
    assert not entry.exists()  # accounts are not among the audited objects; their password never is anywhere


def test_create_user_reads_the_password_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase 42\n"))
    out = StringIO()
    call_command("create_user", "lead", "--role", "admin", "--password-stdin", stdout=out)
    assert "a long enough passphrase" not in out.getvalue()
    user = authenticate(username="lead", password="a long enough passphrase 42")
    assert user is not None and roles.role_of(user) == roles.ADMIN and user.is_staff


@pytest.mark.parametrize(
    "args, message",
    [
        (["x", "--role", "owner"], "invalid choice: 'owner'"),
        (["taken", "--role", "viewer"], "a user named 'taken' exists already"),
    ],
)
def test_create_user_refuses_bad_input_clearly(django_user_model, args, message):
    django_user_model.objects.create_user("taken")
    with pytest.raises(CommandError, match=message):
        call_command("create_user", *args, stdout=StringIO())


def test_create_user_refuses_a_weak_password_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="password refused"):
        call_command("create_user", "weak", "--role", "viewer", "--password-stdin", stdout=StringIO())
    assert not get_user_model().objects.filter(username="weak").exists()
