"""Who may open a page: one decorator every view wears, naming the permission it needs (``changetrack.roles``).

Anonymous visitors go to the login page; a logged-in person without the permission gets a 403 page that says what
is missing and what role grants it, never the data."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changetrack import roles

#: which role first grants each permission the pages check (for the 403 page's explanation)
GRANTED_BY = {
    roles.READ: roles.VIEWER,
    roles.RECORD_VERDICT: roles.RESPONDER,
    roles.MAP_UNMAPPED: roles.RESPONDER,
    roles.REPLAY_DELIVERIES: roles.RESPONDER,
    roles.MANAGE_CONNECTIONS: roles.ADMIN,
    roles.MANAGE_NOTIFICATIONS: roles.ADMIN,
    roles.VIEW_AUDIT: roles.ADMIN,
}

View = Callable[..., HttpResponse]


def forbidden(request: HttpRequest, permission: str) -> HttpResponse:
    needed = GRANTED_BY.get(permission, roles.ADMIN)
    context = {"role": roles.role_of(request.user) if request.user.is_authenticated else None, "needed": needed}
    return render(request, "web/forbidden.html", context, status=403)


def requires(permission: str) -> Callable[[View], View]:
    """The view runs only for a logged-in user holding ``permission``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(permission):
                return forbidden(request, permission)
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorate


#: every read-only page
viewer = requires(roles.READ)
