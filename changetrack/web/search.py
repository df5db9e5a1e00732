"""The top bar's search: changes by commit SHA (or a prefix), image, tag, version, actor or flag key, newest first
(``changetrack.search`` owns the terms and the index)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changetrack import search as change_search
from changetrack.web import access, events, feed


@access.viewer
def search(request: HttpRequest) -> HttpResponse:
    """Results for ``q``; an empty ``q`` shows the form, a query that cannot be searched answers 400 with why."""
    text = request.GET.get("q", "")
    context: dict[str, object] = {"q": text, "changes": [], "error": "", "older_url": "", "newest_url": ""}
    if not text.strip():
        return render(request, "web/search.html", context)
    after = events.decode(request.GET.get("after"))
    try:
        rows, more = feed.change_page(Q(change_search.condition(text)), after)
    except change_search.BadQuery as exc:
        context["error"] = str(exc)
        return render(request, "web/search.html", context, status=400)
    context["changes"] = rows
    if more:
        context["older_url"] = "?" + urlencode({"q": text, "after": more.encode()})
    if after:
        context["newest_url"] = "?" + urlencode({"q": text})
    return render(request, "web/search.html", context)
