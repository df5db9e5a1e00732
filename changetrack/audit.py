"""One home for the audit log: who created, changed or deleted a connection, an API token, an alias, a notification
rule or a verdict, when, and from where.

Entries are written from model signals, so every path that saves a tracked model (a page, the API, the admin, a
management command) is audited without each view remembering to. Who and where come from the request context that
``changetrack.logs`` already carries: ``AuditContextMiddleware`` binds the logged-in user, the source (``ui``,
``admin``) and the client address; the API's token authentication binds the token; a management command binds
itself with ``acting_as()``. Secret fields are recorded only as changed, never with their values.

A model added later (notification rules) is audited with one ``track(Model, secret=..., ignore=...)`` call.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse

from changetrack import logs
from changetrack.ingest import scrubbing
from changetrack.models import ApiToken, AuditEntry, Connection, Feedback, RoutingRule, ServiceAlias

SECRET_MARK = "(secret)"


@dataclass(frozen=True)
class Tracked:
    secret: frozenset[str]
    #: bookkeeping fields whose change alone is not an act worth an entry
    ignore: frozenset[str]


TRACKED: dict[type[Model], Tracked] = {}


def track(model: type[Model], secret: tuple[str, ...] = (), ignore: tuple[str, ...] = ()) -> None:
    """Audit every create, change and delete of ``model``; ``secret`` fields are never written to the log."""
    TRACKED[model] = Tracked(frozenset(secret), frozenset(ignore))
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_remember_before, sender=model, dispatch_uid=uid)
    post_save.connect(_after_save, sender=model, dispatch_uid=uid)
    post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)


@contextlib.contextmanager
def acting_as(actor: str, source: str) -> Iterator[None]:
    """Attribute whatever is saved inside the block to ``actor`` from ``source`` (a command, a task)."""
    token = logs.bind(actor=actor, source=source)
    try:
        yield
    finally:
        logs.unbind(token)


def as_command(name: str) -> contextlib.AbstractContextManager[None]:
    """Attribute a management command's saves to it (and the account that ran it, when the OS says)."""
    who = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    return acting_as(f"command:{name}" + (f" ({who})" if who else ""), "command")


def bind_token(token: ApiToken) -> None:
    """Called by the API's authentication: the rest of the request acts as this token (the request's middleware
    restores the context when the request ends)."""
    logs.bind(actor=f"token:{token.name} ({token.prefix}…)", source="api")


def _values(instance: Model, spec: Tracked) -> dict[str, Any]:
    """The tracked fields' values, secret ones included: compared in memory, masked by ``_masked`` before storing."""
    return {
        f.name: _plain(f.value_from_object(instance))
        for f in instance._meta.concrete_fields
        if f.name not in spec.ignore
    }


def _masked(changes: dict[str, list[Any]], spec: Tracked) -> dict[str, list[Any]]:
    """``changes`` with each secret field's values replaced by whether it was set: the log never holds a secret,
    not even its hash (a hash of a short secret can be brute-forced). The other values pass the one scrubber, as
    everything stored does: a connection's config may hold a URL with a token in it."""
    return scrubbing.scrubbed_payload(
        {
            k: [None if b in (None, "", {}) else SECRET_MARK, None if a in (None, "", {}) else SECRET_MARK]
            if k in spec.secret
            else [b, a]
            for k, (b, a) in changes.items()
        }
    )


def _plain(value: Any) -> Any:
    """A JSON-storable form of a field value (dates, UUIDs and decimals as text)."""
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


def _remember_before(sender: type[Model], instance: Model, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance._state.adding:
        return
    before = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _values(before, TRACKED[sender]) if before is not None else None  # type: ignore[attr-defined]


def _after_save(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    spec = TRACKED[sender]
    after = _values(instance, spec)
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None  # type: ignore[attr-defined]
    if created or before is None:
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        _write(AuditEntry.Action.CREATE, instance, _masked(changes, spec))
        return
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes:
        _write(AuditEntry.Action.CHANGE, instance, _masked(changes, spec))


def _after_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    _write(AuditEntry.Action.DELETE, instance, {})


def _write(action: str, instance: Model, changes: dict[str, Any]) -> None:
    context = logs.current()
    AuditEntry.objects.create(
        actor=context.get("actor", "system")[:200],
        source=context.get("source", "system")[:20],
        ip=context.get("client_ip") or None,
        request_id=context.get("request_id", "")[:128],
        action=action,
        object_type=instance._meta.label_lower.split(".", 1)[1],
        object_id=str(instance.pk)[:64],
        object_repr=str(instance)[:200],
        changes=changes,
    )


def _client_ip(request: HttpRequest) -> str:
    """``REMOTE_ADDR`` (a forwarded-for header is set by whoever sends the request, so it is not evidence)."""
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return ""


class AuditContextMiddleware:
    """After authentication: binds the acting user, the source and the client address for the request. API
    requests are bound by the token authentication instead (a session is not how the API authenticates)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = {"client_ip": _client_ip(request)}
        if request.path.startswith("/api/"):
            fields["source"] = "api"
        elif request.path.startswith("/hooks/"):
            fields["source"] = "webhook"  # signed by the sender; nobody is logged in
        else:
            fields["source"] = "admin" if request.path.startswith("/admin/") else "ui"
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                # mozilla-django-oidc marks a session it opened; a person who came through SSO is named as such
                sso = "oidc_id_token_expiration" in request.session
                fields["actor"] = f"{'sso' if sso else 'user'}:{user.get_username()}"
        token = logs.bind(**fields)
        try:
            return self.get_response(request)
        finally:
            logs.unbind(token)


def register_defaults() -> None:
    track(Connection, secret=("secrets_encrypted", "secret_hashes"), ignore=("last_delivery_at", "created_at"))
    track(ApiToken, secret=("key_hash",), ignore=("last_used_at", "created_at"))
    track(ServiceAlias, ignore=("created_at",))
    track(Feedback, ignore=("created_at",))
    track(RoutingRule, ignore=("created_at",))
