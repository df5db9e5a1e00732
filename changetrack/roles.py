"""The three roles, as Django groups: who may read, who may respond, who may administer.

- ``viewer``: reads every page and the API's read endpoints.
- ``responder``: a viewer who records verdicts, maps unmapped records and replays deliveries.
- ``admin``: a responder who manages connections, tokens, aliases and notification rules.

A user's role is the group of that name (superusers are admins whatever their groups). The permissions each group
holds are granted where the permissions are defined; this module only names the roles and assigns them, so the
local login, ``create_user`` and SSO all assign roles the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
#: lowest to highest: each role can do everything the roles before it can
ROLES: tuple[str, ...] = (VIEWER, RESPONDER, ADMIN)


def set_role(user: AbstractBaseUser, role: str) -> None:
    """Make ``role`` the user's only role group (other, non-role groups are kept). Raises ``ValueError`` for an
    unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    # imported here, not at the top: the settings validate role names (OIDC_ROLE_MAP) before the models can load
    from django.contrib.auth.models import Group

    groups = user.groups  # type: ignore[attr-defined]
    groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    group, _ = Group.objects.get_or_create(name=role)
    groups.add(group)


def role_of(user: AbstractBaseUser) -> str | None:
    """The user's highest role (``admin`` for a superuser), or None for a user with no role."""
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))  # type: ignore[attr-defined]
    return next((role for role in reversed(ROLES) if role in names), None)
