"""The three roles, as Django groups: who may read, who may respond, who may administer.

- ``viewer``: reads every page and the API's read endpoints.
- ``responder``: a viewer who records verdicts, maps unmapped records and replays deliveries.
- ``admin``: a responder who manages connections, tokens, aliases and notification rules, and reads the audit log.

A user's role is the group of that name (superusers are admins whatever their groups). ``ensure_roles()`` is the one
place that says which permissions each group holds: the migration calls it, and so does every ``migrate`` after it
(``post_migrate``), so a model added later (notification rules) is granted to the admin group without a new table
here. The views check the permission names below, never a role name, so the local login, ``create_user`` and SSO
all grant the same rights through the same groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps as global_apps

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
#: lowest to highest: each role can do everything the roles before it can
ROLES: tuple[str, ...] = (VIEWER, RESPONDER, ADMIN)

APP = "changetrack"
#: what the views check (``user.has_perm``): one name per kind of act
READ = f"{APP}.view_change"
RECORD_VERDICT = f"{APP}.add_feedback"
MAP_UNMAPPED = f"{APP}.map_unmapped"
REPLAY_DELIVERIES = f"{APP}.replay_delivery"
MANAGE_CONNECTIONS = f"{APP}.add_connection"
#: for the notification rules (Slack and other push destinations): their views and admin check this name
MANAGE_NOTIFICATIONS = f"{APP}.manage_notifications"
VIEW_AUDIT = f"{APP}.view_auditentry"

#: permissions no model declares: codename -> (model whose content type carries it, description)
CUSTOM_PERMISSIONS: dict[str, tuple[str, str]] = {
    "map_unmapped": ("servicealias", "Can map unmapped records to a service (adds an alias)"),
    "replay_delivery": ("delivery", "Can replay failed deliveries"),
    "manage_notifications": ("connection", "Can manage notification rules"),
}
#: read rights a viewer does not get: the audit log and token metadata are for admins
ADMIN_ONLY_VIEWS = frozenset({"view_auditentry", "view_apitoken"})
RESPONDER_EXTRA = frozenset({"add_feedback", "change_feedback", "map_unmapped", "replay_delivery"})
#: the audit log is append-only: nobody is granted a way to edit or remove an entry
NEVER_GRANTED = frozenset({"add_auditentry", "change_auditentry", "delete_auditentry"})


def role_permissions(codenames: set[str]) -> dict[str, set[str]]:
    """Which of the app's permission ``codenames`` each role holds."""
    viewer = {c for c in codenames if c.startswith("view_") and c not in ADMIN_ONLY_VIEWS}
    responder = viewer | (RESPONDER_EXTRA & codenames)
    return {VIEWER: viewer, RESPONDER: responder, ADMIN: codenames - NEVER_GRANTED}


def ensure_roles(apps: Any = global_apps) -> None:
    """Create the role groups and the custom permissions, and set each group's permissions to exactly its role's.
    Idempotent. ``apps`` is a migration's historical registry or, by default, the running one."""
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    for codename, (model, name) in CUSTOM_PERMISSIONS.items():
        ct, _ = content_type.objects.get_or_create(app_label=APP, model=model)
        permission.objects.get_or_create(content_type=ct, codename=codename, defaults={"name": name})
    perms = {p.codename: p for p in permission.objects.filter(content_type__app_label=APP)}
    for role, codenames in role_permissions(set(perms)).items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([perms[c] for c in sorted(codenames)])


def set_role(user: AbstractBaseUser, role: str) -> None:
    """Make ``role`` the user's only role group (other, non-role groups are kept). An admin is also staff (the
    admin site is where connections, tokens and aliases are edited); a lower role is not, unless a superuser.
    Raises ``ValueError`` for an unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    # imported here, not at the top: the settings validate role names (OIDC_ROLE_MAP) before the models can load
    from django.contrib.auth.models import Group

    groups = user.groups  # type: ignore[attr-defined]
    groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    group, _ = Group.objects.get_or_create(name=role)
    groups.add(group)
    staff = role == ADMIN or bool(getattr(user, "is_superuser", False))
    if getattr(user, "is_staff", staff) != staff:
        user.is_staff = staff  # type: ignore[attr-defined]
        user.save(update_fields=["is_staff"])  # type: ignore[misc]


def role_of(user: AbstractBaseUser) -> str | None:
    """The user's highest role (``admin`` for a superuser), or None for a user with no role."""
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))  # type: ignore[attr-defined]
    return next((role for role in reversed(ROLES) if role in names), None)
