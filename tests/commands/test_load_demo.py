"""``manage.py load_demo``: the demo data tells its incident stories, and loading it twice changes nothing."""

import pytest
from django.core.management import call_command

from changetrack.models import Alert, Change, Service, Suspect


@pytest.mark.django_db
def test_the_demo_tells_the_incident_story():
    call_command("load_demo")
    alert = Alert.objects.get(title__contains="data-processor")
    top = Suspect.objects.filter(alert=alert).order_by("rank").first()
    change = Change.objects.get(pk=top.change_id)
    assert change.service.name == "rest-api" and "50 → 5" in change.summary
    assert Service.objects.filter(cluster__name__in=["prod-us", "prod-eu"]).count() == 12
    call_command("load_demo")  # idempotent
    assert Alert.objects.filter(external_id__startswith="demo-").count() == 3


@pytest.mark.django_db
def test_the_demo_has_an_earlier_resolved_incident_caused_by_a_flag():
    from changetrack.models import Feedback, HealthEpisode, Incident

    call_command("load_demo")
    checkout = Alert.objects.get(source="alertmanager", external_id="demo-am-checkout-5xx")
    frontend = Alert.objects.get(source="alertmanager", external_id="demo-am-frontend-5xx")
    flag = Change.objects.get(external_id="demo-flag-checkout-new-payment-flow-on")
    assert checkout.status == frontend.status == "resolved"
    for alert in (checkout, frontend):
        top = Suspect.objects.get(alert=alert, rank=1)
        assert top.change_id == flag.pk
    assert checkout.incident_id is not None and checkout.incident_id == frontend.incident_id
    incident = Incident.objects.get(pk=checkout.incident_id)
    assert incident.resolved_at == frontend.resolved_at
    assert Feedback.objects.get(alert=checkout).verdict == "caused"
    assert HealthEpisode.objects.get(details__demo=True).service == checkout.service
    call_command("load_demo", "--reset")
    assert Incident.objects.count() == 1 and HealthEpisode.objects.filter(details__demo=True).count() == 1
