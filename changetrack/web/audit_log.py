"""``/audit/``: the audit log for admins, newest first, filtered by actor, object type, action and source."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changetrack import roles
from changetrack.models import AuditEntry
from changetrack.web import access

PAGE_SIZE = 100
FILTERS = {"actor": "actor__icontains", "object_type": "object_type", "action": "action", "source": "source"}


@access.requires(roles.VIEW_AUDIT)
def audit_log(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "").replace("\x00", "")[:200] for k in FILTERS}
    entries = AuditEntry.objects.filter(**{FILTERS[k]: v for k, v in params.items() if v})
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "web/audit.html",
        {
            "page": page,
            "params": params,
            "page_query": urlencode({k: v for k, v in params.items() if v}),
            "object_types": AuditEntry.objects.order_by().values_list("object_type", flat=True).distinct(),
            "actions": AuditEntry.Action.values,
            "sources": ("ui", "admin", "api", "command", "system"),
        },
    )
