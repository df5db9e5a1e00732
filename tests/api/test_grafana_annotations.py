"""``GET /api/v1/grafana/annotations``: changes in a window as the rows Grafana's Infinity data source reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from changetrack.ingest.store import store_records
from changetrack.models import Change, Service
from integrations.base import ChangeRecord, ServiceHint
from tests.api.conftest import assert_problem
from tests.correlation.helpers import NOW

pytestmark = pytest.mark.django_db
PATH = "/api/v1/grafana/annotations"


def ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def add(name: str, kind: str, at, *, ended=None, source: str = "kubernetes", ext: str = "") -> Change:
    rec = ChangeRecord(
        source=source,
        external_id=ext or f"{name}-{kind}-{ms(at)}",
        kind=kind,
        occurred_at=at,
        ended_at=ended,
        summary=f"{kind} <{name}>",
        service=ServiceHint(name=name, namespace="shop", cluster="prod", create=True),
    )
    return Change.objects.get(pk=store_records([rec]).changes[0][0])


@pytest.fixture
def window():
    checkout = add("checkout", "deploy", NOW - timedelta(minutes=30), ended=NOW - timedelta(minutes=20))
    rollout = add("payments", "deploy", NOW - timedelta(hours=3), ended=NOW - timedelta(minutes=50))
    flag = add("checkout", "feature_flag", NOW - timedelta(minutes=10), source="launchdarkly")
    add("checkout", "config", NOW - timedelta(hours=5))  # before the window, no end
    Service.objects.filter(name="payments").update(team="money")
    return {"checkout": checkout, "rollout": rollout, "flag": flag}


def get(api, **params):
    base = {"from": ms(NOW - timedelta(hours=1)), "to": ms(NOW)}
    return api.get(PATH, {**base, **params})


def test_changes_in_the_window_are_rows_with_epoch_ms_times_tags_and_a_link_back(api, window, settings):
    answer = get(api)
    assert answer.status_code == 200
    rows = answer.json()
    assert [r["id"] for r in rows] == [window["flag"].pk, window["checkout"].pk, window["rollout"].pk]
    deploy = rows[1]
    assert deploy["time"] == ms(NOW - timedelta(minutes=30)) and deploy["timeEnd"] == ms(NOW - timedelta(minutes=20))
    assert deploy["title"] == "deploy · checkout"
    assert deploy["tags"] == [
        "changetrack",
        "service:checkout",
        "kind:deploy",
        "cluster:prod",
        "namespace:shop",
        "source:kubernetes",
    ]
    link = f"{settings.PUBLIC_URL}/changes/{window['checkout'].pk}/"
    assert deploy["url"] == link
    assert deploy["text"] == f'deploy &lt;checkout&gt; <a href="{link}">Open in changetrack</a>'
    assert rows[0]["timeEnd"] == rows[0]["time"]  # a point in time


def test_a_rollout_that_started_before_the_window_and_ended_in_it_is_shown(api, window):
    rows = get(api, kind="deploy", team="money").json()
    assert [r["id"] for r in rows] == [window["rollout"].pk]


def test_service_kind_source_and_tags_narrow_the_rows(api, window):
    checkout = Service.objects.get(name="checkout")
    assert [r["id"] for r in get(api, service=str(checkout.pk)).json()] == [window["flag"].pk, window["checkout"].pk]
    assert [r["id"] for r in get(api, service="prod/shop/checkout", kind="deploy").json()] == [window["checkout"].pk]
    assert [r["id"] for r in get(api, source="launchdarkly").json()] == [window["flag"].pk]
    assert [r["id"] for r in get(api, tags="changetrack,service:payments").json()] == [window["rollout"].pk]
    assert get(api, limit="1").json()[0]["id"] == window["flag"].pk


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "-5"}, "to"),
        ({"from": str(ms(NOW)), "to": str(ms(NOW - timedelta(hours=1)))}, "from"),
        ({"from": str(ms(NOW - timedelta(days=100)))}, "from"),
        ({"kind": "deploy,teleport"}, "kind"),
        ({"tags": "colour:blue"}, "tags"),
        ({"service": "no-such-service"}, "service"),
        ({"service": "a/b/c/d"}, "service"),
        ({"limit": "100000"}, "limit"),
    ],
)
def test_bad_parameters_are_a_400_problem_naming_the_field(api, window, params, field):
    assert_problem(get(api, **params), 400, field)


def test_it_needs_a_token_with_the_read_scope(make_api, client, window):
    assert client.get(PATH, {"from": 0, "to": 1}).status_code == 401
    assert get(make_api(("write",))).status_code == 403
