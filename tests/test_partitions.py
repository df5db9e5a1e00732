"""Day partitions of the change table and retention (``changetrack.partitions``)."""

from datetime import date, datetime, timedelta, timezone

import pytest
from django.db import connection

from changetrack import partitions
from changetrack.ingest.store import store_records
from changetrack.models import Change
from tests.records import change


@pytest.mark.django_db
def test_changes_land_in_their_day_partition_and_retention_drops_whole_days(settings):
    settings.RETENTION_DAYS = 10
    now = datetime.now(timezone.utc)
    store_records([change("recent", now - timedelta(days=1)), change("old", now - timedelta(days=9))])
    old_part = partitions.partition_name("changetrack_change", (now - timedelta(days=9)).date())
    assert old_part in partitions.existing_partitions("changetrack_change")
    with connection.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{old_part}"')
        assert cur.fetchone()[0] == 1
    report = partitions.maintain(today=(now + timedelta(days=3)).date())  # 12 days later: "old" is past retention
    assert old_part in report["changetrack_change"]["dropped"]
    assert list(Change.objects.filter(source="test").values_list("external_id", flat=True)) == ["recent"]


@pytest.mark.django_db
def test_a_change_far_outside_the_window_goes_to_the_default_partition_and_moves_when_its_day_is_created():
    far = datetime(2031, 1, 2, 12, tzinfo=timezone.utc)
    store_records([change("future", far)])
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM "changetrack_change_default"')
        assert cur.fetchone()[0] == 1
    assert partitions.create_partition("changetrack_change", date(2031, 1, 2))
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM "changetrack_change_default"')
        assert cur.fetchone()[0] == 0
    assert Change.objects.get(external_id="future").occurred_at == far
