"""Integrations → Routing rules: which alerts each Slack or webhook connection announces, and where."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from changetrack import roles
from changetrack.models import Connection, RoutingRule
from changetrack.notify import routing
from changetrack.web import access

logger = logging.getLogger(__name__)


class RuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = ["connection", "team", "service", "cluster", "namespace", "min_severity", "channel", "silence"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["connection"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Connection.objects.filter(integration__in=routing.push_slugs())


@access.viewer
def rule_list(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    can_edit = request.user.has_perm(roles.MANAGE_NOTIFICATIONS)
    if request.method == "POST":
        if not can_edit:
            return access.forbidden(request, roles.MANAGE_NOTIFICATIONS)
        if form.is_valid():
            rule = form.save()
            logger.info("web.routing.rule_added", extra={"rule": rule.pk, "connection": str(rule.connection_id)})
            messages.success(request, f"Rule added: {rule}.")
            return redirect(reverse("web:routing"))
    rules = RoutingRule.objects.select_related("connection", "service").order_by("connection__name", "silence", "id")
    return render(
        request,
        "web/routing.html",
        {
            "rules": rules,
            "form": form,
            "can_edit": can_edit,
        },
    )


@access.requires(roles.MANAGE_NOTIFICATIONS)
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk)
    logger.info("web.routing.rule_deleted", extra={"rule": rule.pk})
    rule.delete()
    messages.success(request, "Rule deleted.")
    return redirect(reverse("web:routing"))
