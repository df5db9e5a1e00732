"""Connections: list, create (the form comes from the integration's ``config_fields``), inspect, replay.

Secrets are shown exactly once, in the response to the creating POST (never stored in the session, never
rendered again); afterwards the page only says which secrets are set.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from changetrack import roles
from changetrack.connections import create_connection
from changetrack.infra.urls import absolute_url
from changetrack.ingest import kick
from changetrack.models import Connection, Delivery, PollState
from changetrack.notify import markers
from changetrack.notify import status as push_status
from changetrack.web import access
from integrations import registry
from integrations.base import ConfigField, Integration

logger = logging.getLogger(__name__)
DELIVERY_LIMIT = 50
REPLAY_WINDOW = timedelta(days=14)


def connection_form(integration: Integration) -> type[forms.Form]:
    """A form class with a name field and one field per ``ConfigField``. A blank *hashed* secret (a shared
    token we only compare) is generated for the user; a clear secret (an HMAC key, an API token) must be given."""
    fields: dict[str, forms.Field] = {"name": forms.CharField(max_length=100, label="Connection name")}
    for cf in integration.config_fields:
        help_text = cf.help
        if cf.secret and cf.hashed:
            help_text = (help_text + " " if help_text else "") + "Leave blank to generate one. Shown once."
        elif cf.secret:
            help_text = (help_text + " " if help_text else "") + "Shown once after saving, never again."
        widget = forms.PasswordInput(render_value=False) if cf.secret else forms.TextInput()
        fields[f"cfg_{cf.name}"] = forms.CharField(
            label=cf.label,
            required=cf.required and not (cf.secret and cf.hashed),
            max_length=2000,
            help_text=help_text,
            widget=widget,
        )
    return type(f"{integration.slug.title()}ConnectionForm", (forms.Form,), fields)


def _integration(slug: str) -> Integration:
    integration = registry.get(slug)
    if integration is None:
        raise Http404("no such integration")
    return integration


@access.viewer
def integration_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=1)
    connections = list(Connection.objects.order_by("integration", "name"))
    stats = {
        row["connection_id"]: row
        for row in Delivery.objects.filter(received_at__gte=since)
        .values("connection_id")
        .annotate(
            total=Count("id"),
            failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
            pending=Count("id", filter=Q(status=Delivery.Status.PENDING)),
            last=Max("received_at"),
        )
    }
    empty = {"total": 0, "failed": 0, "pending": 0, "last": None}
    rows = []
    for c in connections:
        st = stats.get(c.pk, empty)
        # last_delivery_at: a push source's (written at most once a minute) or a polled source's last good poll
        last = max(filter(None, (c.last_delivery_at, st["last"])), default=None)
        rows.append((c, registry.get(c.integration), {**st, "last": last}))
    return render(
        request,
        "web/integrations.html",
        {
            "rows": rows,
            "available": sorted(registry.INTEGRATIONS.values(), key=lambda i: i.label.lower()),
        },
    )


def _config_field(integration: Integration | None, name: str) -> ConfigField | None:
    for cf in integration.config_fields if integration else ():
        if cf.name == name:
            return cf
    return None


@access.requires(roles.MANAGE_CONNECTIONS)
def connection_new(request: HttpRequest, slug: str) -> HttpResponse:
    integration = _integration(slug)
    form_class = connection_form(integration)
    form = form_class(request.POST or None, initial={"name": integration.label})
    if request.method == "POST" and form.is_valid():
        values = {cf.name: (form.cleaned_data.get(f"cfg_{cf.name}") or "") for cf in integration.config_fields}
        new = create_connection(slug, form.cleaned_data["name"], values)
        conn = new.connection
        logger.info("web.connection.created", extra={"integration": slug, "connection": str(conn.pk)})
        entered = {
            cf.name: values[cf.name].strip()
            for cf in integration.config_fields
            if cf.secret and values[cf.name].strip()
        }
        shown = [(_config_field(integration, k), v) for k, v in {**entered, **new.generated}.items()]
        response = render(
            request,
            "web/connection_created.html",
            {
                "conn": conn,
                "integration": integration,
                "shown": shown,
                "webhook_url": absolute_url(conn.webhook_path),
            },
        )
        response["Cache-Control"] = "no-store"  # the one page that holds a secret must not be cached
        return response
    return render(request, "web/connection_new.html", {"form": form, "integration": integration})


@access.viewer
def connection_detail(request: HttpRequest, pk: str) -> HttpResponse:
    conn = _connection(pk)
    integration = registry.get(conn.integration)
    deliveries = list(
        Delivery.objects.filter(connection_id=conn.pk)
        .order_by("-received_at", "-id")
        .only("id", "event_type", "received_at", "status", "error", "attempts", "records", "processed_at")[
            :DELIVERY_LIMIT
        ]
    )
    secret_names = sorted({*conn.secret_hashes} | ({"(encrypted secrets)"} if conn.secrets_encrypted else set()))
    labels = {cf.name: cf.label for cf in integration.config_fields} if integration else {}
    return render(
        request,
        "web/connection.html",
        {
            "conn": conn,
            "integration": integration,
            "deliveries": deliveries,
            # the receiver writes last_delivery_at at most once a minute: the newest delivery row may be later
            "last_delivery": max(
                filter(None, (conn.last_delivery_at, deliveries[0].received_at if deliveries else None)), default=None
            ),
            "webhook_url": absolute_url(conn.webhook_path),
            "config": [(labels.get(k, k), v) for k, v in sorted(conn.config.items())],
            "secret_names": [labels.get(n, n) for n in secret_names],
            "failed": sum(1 for d in deliveries if d.status == Delivery.Status.FAILED),
            "poll": PollState.objects.filter(connection=conn).first() if integration and integration.can_poll else None,
            "push": _push_status(conn, integration),
        },
    )


def _push_status(conn: Connection, integration: Integration | None) -> push_status.PushStatus | None:
    """Messages sent for an alert destination, annotations for one that marks changes; None for a source."""
    if not getattr(integration, "pushes", False):
        return None
    if not getattr(integration, "notices", True):
        return markers.status(conn)
    return push_status.for_connection(conn)


def _connection(pk: str) -> Connection:
    try:
        return get_object_or_404(Connection, pk=pk)
    except (ValueError, forms.ValidationError):  # not a UUID
        raise Http404("no such connection") from None


@access.requires(roles.REPLAY_DELIVERIES)
@require_POST
def connection_replay(request: HttpRequest, pk: str) -> HttpResponse:
    """Failed deliveries of the last two weeks go back to pending; a drain is requested to process them."""
    conn = _connection(pk)
    count = Delivery.objects.filter(
        connection_id=conn.pk, status=Delivery.Status.FAILED, received_at__gte=timezone.now() - REPLAY_WINDOW
    ).update(status=Delivery.Status.PENDING, error="")
    if count:
        kick.request_drain()
    logger.info("web.deliveries.replayed", extra={"connection": str(conn.pk), "count": count})
    messages.success(
        request, f"{count} failed deliveries queued for replay." if count else "No failed deliveries to replay."
    )
    return redirect(reverse("web:connection", args=[conn.pk]))
