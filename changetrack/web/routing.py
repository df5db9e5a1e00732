"""Integrations → Routing rules: which alerts each Slack or webhook connection announces, and where."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from changetrack.models import Connection, RoutingRule
from changetrack.notify import routing

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


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("changetrack.add_routingrule"):
            return HttpResponse("You may not add routing rules.", status=403)
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
            "can_edit": request.user.has_perm("changetrack.add_routingrule"),
            "can_delete": request.user.has_perm("changetrack.delete_routingrule"),
        },
    )


@login_required
@require_POST
@permission_required("changetrack.delete_routingrule", raise_exception=True)
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk)
    logger.info("web.routing.rule_deleted", extra={"rule": rule.pk})
    rule.delete()
    messages.success(request, "Rule deleted.")
    return redirect(reverse("web:routing"))
