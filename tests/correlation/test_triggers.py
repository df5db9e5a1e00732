import pytest

from changetrack.correlation import triggers
from changetrack.ingest.store import store_records
from changetrack.models import Suspect
from tests.waiting import eventually

from .helpers import NOW, alert, change, depends, minutes

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_alert_is_ranked_by_the_worker_and_a_late_change_re_ranks_it(celery_worker):
    depends("api", "cache")
    change("api", "config", NOW - minutes(50))
    a = alert("api", NOW)
    triggers.on_stored({a.pk}, [])
    assert eventually(lambda: Suspect.objects.filter(alert=a).count() == 1)
    late = change("cache", "deploy", NOW - minutes(5))  # stored now, occurred before the alert
    triggers.on_stored(set(), [(late.pk, late.occurred_at)])
    assert eventually(lambda: Suspect.objects.filter(alert=a, rank=1, change_id=late.pk).exists())


def test_a_late_change_concerns_only_alerts_on_related_services_in_its_window():
    depends("api", "cache")
    near = alert("api", NOW)
    unrelated = alert("billing", NOW)
    too_late = alert("api", NOW + minutes(60 * 30))
    late = change("cache", "deploy", NOW - minutes(5))
    assert triggers.alerts_covering([late.occurred_at], [late.pk]) == {near.pk}
    assert triggers.alerts_covering([late.occurred_at]) == {near.pk, unrelated.pk}
    assert too_late.pk not in triggers.alerts_covering([late.occurred_at])


def test_the_store_reports_a_change_that_arrives_late_so_the_pipeline_can_trigger():
    from integrations.base import ChangeRecord

    from .helpers import hint

    result = store_records(
        [
            ChangeRecord(
                source="k",
                external_id="x1",
                kind="deploy",
                occurred_at=NOW - minutes(30),
                summary="deploy api",
                service=hint("api"),
            )
        ]
    )
    assert [cid for cid, _ in result.late_changes] == [result.changes[0][0]]
