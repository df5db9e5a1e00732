"""Records no rule mapped to a service, grouped by what their source said, with a form that maps a group.

Mapping creates a ``ServiceAlias`` (the same rule the admin edits) and remaps at once, so the alerts in the group
get their suspects and the changes join their service's timeline while the responder watches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from changetrack import roles
from changetrack.ingest.tasks import remap_unmapped
from changetrack.models import Alert, Change, Service, ServiceAlias, UnmappedEdge
from changetrack.web import access

DAYS = 30
#: newest unmapped records looked at per model: enough to show every group a person can act on
SCAN = 5000
MAX_SERVICES_LISTED = 2000
EDGE_FIELDS = (
    "provenance",
    "service_hint",
    "depends_on_hint",
    "service_unmapped",
    "depends_on_unmapped",
    "evidence",
    "last_seen_at",
)


@dataclass
class Group:
    """Unmapped records of one source that carry the same hint."""

    source: str
    pairs: tuple[tuple[str, str], ...]
    hint: dict[str, Any]
    alerts: int = 0
    changes: int = 0
    edges: int = 0
    last_at: datetime | None = None
    example: str = ""
    example_url: str = ""
    alert_ids: list[int] = field(default_factory=list)

    def add(self, at: datetime, text: str, url: str) -> None:
        if self.last_at is None or at > self.last_at:
            self.last_at, self.example, self.example_url = at, text, url


def hint_pairs(hint: Any) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs an alias can match for this stored hint: its keys, then its name and repository."""
    if not isinstance(hint, dict):
        return ()
    pairs = [(str(k), str(v)) for k, v in (tuple(kv) for kv in hint.get("keys", []) if len(kv) == 2) if v]
    pairs += [(key, str(hint[field])) for key, field in (("name", "name"), ("repo", "repository")) if hint.get(field)]
    return tuple(dict.fromkeys(pairs))


def groups(days: int = DAYS) -> list[Group]:
    since = timezone.now() - timedelta(days=days)
    found: dict[tuple[str, tuple[tuple[str, str], ...]], Group] = {}

    def group(source: str, hint: Any) -> Group:
        pairs = hint_pairs(hint)
        key = (source, pairs)
        if key not in found:
            found[key] = Group(source, pairs, hint if isinstance(hint, dict) else {})
        return found[key]

    alerts = Alert.objects.filter(service__isnull=True, started_at__gte=since).order_by("-started_at")
    for a in alerts.values("id", "source", "service_hint", "title", "started_at")[:SCAN]:
        g = group(a["source"], a["service_hint"])
        g.alerts += 1
        g.alert_ids.append(a["id"])
        g.add(a["started_at"], a["title"], reverse("web:alert", args=[a["id"]]))
    changes = Change.objects.filter(service__isnull=True, occurred_at__gte=since).order_by("-occurred_at")
    for c in changes.values("id", "source", "service_hint", "summary", "occurred_at")[:SCAN]:
        g = group(c["source"], c["service_hint"])
        g.changes += 1
        g.add(c["occurred_at"], c["summary"], reverse("web:change", args=[c["id"]]))
    # a trace edge names two services: each end that matched nothing is a name to map, under the source "traces"
    edges = UnmappedEdge.objects.filter(last_seen_at__gte=since).order_by("-last_seen_at")
    for e in edges.values(*EDGE_FIELDS)[:SCAN]:
        text = f"{e['service_hint'].get('name', '?')} → {e['depends_on_hint'].get('name', '?')} ({e['evidence']})"
        for unmapped, hint in (
            (e["service_unmapped"], e["service_hint"]),
            (e["depends_on_unmapped"], e["depends_on_hint"]),
        ):
            if unmapped:
                g = group(e["provenance"], hint)
                g.edges += 1
                g.add(e["last_seen_at"], text, "")
    # the groups with alerts first (someone may be paged), then the most recent
    return sorted(found.values(), key=lambda g: (g.alerts == 0, -(g.last_at.timestamp() if g.last_at else 0)))


@access.viewer
def unmapped_list(request: HttpRequest) -> HttpResponse:
    services = Service.objects.select_related("cluster").order_by("name", "namespace")[:MAX_SERVICES_LISTED]
    return render(
        request,
        "web/unmapped.html",
        {
            "groups": groups(),
            "days": DAYS,
            "services": [s.qualified_name for s in services],
            "can_map": request.user.has_perm(roles.MAP_UNMAPPED),
        },
    )


def find_service(text: str) -> Service | str:
    """The service named ``cluster/namespace/name``, ``namespace/name`` or a unique bare ``name``; else why not."""
    parts = [p.strip() for p in text.strip().split("/")]
    if not all(parts) or len(parts) > 3:
        return "name a service as cluster/namespace/name"
    qs = Service.objects.select_related("cluster").filter(name=parts[-1])
    if len(parts) >= 2:
        qs = qs.filter(namespace=parts[-2])
    if len(parts) == 3:
        qs = qs.filter(cluster__name=parts[0])
    matches = list(qs[:5])
    if not matches:
        return f"no service {text.strip()!r}"
    if len(matches) > 1:
        return f"{text.strip()!r} matches several services ({', '.join(s.qualified_name for s in matches)})"
    return matches[0]


@access.requires(roles.MAP_UNMAPPED)
@require_POST
def map_group(request: HttpRequest) -> HttpResponse:
    back = HttpResponseRedirect(reverse("web:unmapped"))
    key, value = request.POST.get("match", "").partition("=")[::2]
    source = request.POST.get("source", "") if request.POST.get("scope") != "any" else ""
    if not key or not value or len(key) > 50 or len(value) > 300 or len(source) > 50:
        messages.error(request, "Choose what to match on.")
        return back
    service = find_service(request.POST.get("service", ""))
    if isinstance(service, str):
        messages.error(request, f"Not mapped: {service}.")
        return back
    existing = (
        ServiceAlias.objects.filter(source=source, key=key, value__iexact=value).select_related("service").first()
    )
    if existing is not None and existing.service_id != service.pk:
        messages.error(request, f"Not mapped: {key}={value} already maps to {existing.service.qualified_name}.")
        return back
    if existing is None:
        try:
            with transaction.atomic():
                ServiceAlias.objects.create(source=source, key=key, value=value, service=service)
        except IntegrityError:  # the same rule saved a moment ago by someone else: remapping is still right
            pass
    mapped = remap_unmapped()
    scope = f"from {source}" if source else "from any source"
    messages.success(request, f"{key}={value} {scope} now maps to {service.qualified_name}: {mapped} records mapped.")
    return back
