"""A person's display preferences, stored with their account: times in UTC or in the browser's zone."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from changetrack.infra.problems import problem_response
from changetrack.models import UserPreference
from changetrack.web import access


def times_of(user: object) -> str:
    """``utc`` or ``local`` (the default, also for anyone not logged in)."""
    pk = getattr(user, "pk", None)
    if not getattr(user, "is_authenticated", False) or not isinstance(pk, int):
        return UserPreference.Times.LOCAL
    value = UserPreference.objects.filter(user_id=pk).values_list("times", flat=True).first()
    return value or UserPreference.Times.LOCAL


@access.viewer
@require_POST
def set_times(request: HttpRequest) -> HttpResponse:
    """Remember how this person reads times. A script gets JSON back; a plain form goes back where it came from."""
    value = request.POST.get("times", "")
    if value not in UserPreference.Times.values:
        return problem_response(400, f"times must be one of {', '.join(UserPreference.Times.values)}")
    UserPreference.objects.update_or_create(user_id=int(request.user.pk or 0), defaults={"times": value})
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"times": value})
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure())
    return redirect(back if back and safe else "web:services")
