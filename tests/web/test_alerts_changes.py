"""The alert page (suspects, feedback), the change page and the "what changed" feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Feedback
from integrations.base import AlertRecord, ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db


def test_the_alert_page_lists_the_engines_suspects_in_rank_order_with_path_and_buttons(web, demo):
    from changetrack.correlation.engine import current_suspects

    response = web.get(f"/alerts/{demo.pk}/")
    rows = response.context["rows"]
    assert [r.suspect.change_id for r in rows] == [s.change_id for s in current_suspects(demo, 10)]
    deploy = next(r for r in rows if r.change and r.change.external_id == "demo-rest-deploy")
    assert deploy.suspect.hops == 1 and deploy.suspect.path == ["data-processor", "rest-api"]
    text = response.content.decode()
    assert "Deploy rest-api 2.14.0 (replicas 50 → 5)" in text
    assert "1 hop away: data-processor → rest-api" in text
    assert 'name="verdict" value="caused"' in text and "csrfmiddlewaretoken" in text
    assert deploy.components and all(0 <= v <= 1.0 for _, v in deploy.components)  # the bars have something to draw


def test_a_suspect_older_than_todays_longest_window_still_shows_its_change(web, demo, settings):
    first = [r.change.pk for r in web.get(f"/alerts/{demo.pk}/").context["rows"]]
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    assert deploy.pk in first and (demo.started_at - deploy.occurred_at) > timedelta(minutes=2)
    settings.DEFAULT_CORRELATION_WINDOW_MINUTES = 1  # shortened after ranking: the bounded lookup misses them
    rows = web.get(f"/alerts/{demo.pk}/").context["rows"]
    assert [r.suspect.change_id for r in rows][: len(first)] == first[: len(rows)]
    assert all(r.change is not None for r in rows)


def test_the_rest_api_replica_cut_is_ranked_first(web, demo):
    rows = web.get(f"/alerts/{demo.pk}/").context["rows"]
    assert rows[0].change.external_id == "demo-rest-deploy"


def test_the_alert_page_shows_the_lifecycle_and_a_timeline_ending_shortly_after_the_alert(web, demo):
    response = web.get(f"/alerts/{demo.pk}/")
    data, q = response.context["data"], response.context["q"]
    assert data["focus"] == demo.started_at.isoformat()
    assert q.span == timedelta(hours=24)  # the shortest preset that shows the top suspects (one is 10 h older)
    # the lead-up to the alert fills the chart: it ends at most an eighth of the span after the alert, and at
    # "now" when now comes sooner (the demo alert began ten minutes ago), never in the empty future beyond
    assert q.since < demo.started_at < q.until <= demo.started_at + q.span / 8
    assert abs((q.until - timezone.now()).total_seconds()) < 60
    assert "Triggered" in response.content.decode()


def test_an_old_alerts_window_ends_an_eighth_of_the_span_after_it(web, demo):
    Alert.objects.filter(pk=demo.pk).update(started_at=timezone.now() - timedelta(days=2))
    q = web.get(f"/alerts/{demo.pk}/?range=24h").context["q"]
    demo.refresh_from_db()
    assert q.until == demo.started_at + timedelta(hours=3) and q.since == q.until - timedelta(hours=24)


def test_caused_it_records_the_feedback_and_shows_it(web, demo, user):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    response = web.post(f"/alerts/{demo.pk}/feedback/", {"change_id": deploy.pk, "verdict": "caused"}, follow=True)
    fb = Feedback.objects.get(alert=demo, change_id=deploy.pk)
    assert (fb.verdict, fb.author) == ("caused", "oncall")
    assert b"as caused it" in response.content
    assert {r.change.pk: r.verdict for r in response.context["rows"]}[deploy.pk] == "caused"


def test_marking_unrelated_replaces_an_earlier_verdict(web, demo):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    web.post(f"/alerts/{demo.pk}/feedback/", {"change_id": deploy.pk, "verdict": "caused"})
    web.post(f"/alerts/{demo.pk}/feedback/", {"change_id": deploy.pk, "verdict": "unrelated"})
    assert list(Feedback.objects.filter(alert=demo).values_list("verdict", flat=True)) == ["unrelated"]


@pytest.mark.parametrize(
    "form",
    [
        {"change_id": "x", "verdict": "caused"},
        {"change_id": 1, "verdict": "maybe"},
        {"verdict": "caused"},
        {"change_id": 99999999, "verdict": "caused"},
    ],
)
def test_bad_feedback_is_a_400_and_stores_nothing(web, demo, form):
    assert web.post(f"/alerts/{demo.pk}/feedback/", form).status_code == 400
    assert not Feedback.objects.filter(alert=demo).exists()


def test_feedback_needs_the_csrf_token(user, demo):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    assert strict.post(f"/alerts/{demo.pk}/feedback/", {"change_id": deploy.pk, "verdict": "caused"}).status_code == 403
    assert strict.get(f"/alerts/{demo.pk}/feedback/").status_code == 405
    assert not Feedback.objects.filter(alert=demo).exists()


def test_an_alert_without_a_service_explains_why_there_are_no_suspects(web):
    now = timezone.now()
    store_records(
        [
            AlertRecord(
                source="generic",
                external_id="orphan",
                title="Disk full",
                status="triggered",
                occurred_at=now,
                service=ServiceHint(name="nobody-knows"),
            )
        ]
    )
    alert = Alert.objects.get(external_id="orphan")
    response = web.get(f"/alerts/{alert.pk}/")
    assert response.status_code == 200 and b"not mapped to a service" in response.content
    unmapped = web.get(f"/alerts/{alert.pk}/timeline.json")
    assert unmapped.status_code == 404 and unmapped["Content-Type"] == "application/problem+json"
    assert unmapped.json()["detail"] == "this alert is not mapped to a service" and unmapped.json()["errors"] == []


def test_an_unknown_alert_is_a_404(web):
    assert web.get("/alerts/999999/").status_code == 404
    assert web.post("/alerts/999999/feedback/", {"change_id": 1, "verdict": "caused"}).status_code == 404


# --- change page ----------------------------------------------------------------------------------------------


def _store_change(**kw) -> Change:
    base = dict(
        source="kubernetes",
        external_id="c1",
        kind="deploy",
        occurred_at=timezone.now() - timedelta(minutes=5),
        summary="Deploy api 1.2.0",
        service=ServiceHint(name="api", namespace="shop", cluster="prod", create=True),
        actor="dana@example.com",
    )
    base.update(kw)
    store_records([ChangeRecord(**base)])
    return Change.objects.get(source=base["source"], external_id=base["external_id"])


def test_the_change_page_shows_the_field_diff_side_by_side(web, demo):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    text = web.get(f"/changes/{deploy.pk}/").content.decode()
    assert "<code>spec.replicas</code>" in text
    assert '<td class="before"><code>50</code></td>' in text and '<td class="after"><code>5</code></td>' in text
    assert "sam.patel@example.com (kubectl)" in text
    assert "revision" in text and "completed" in text  # rollout from details
    assert (
        "Same release in other sources" in text and "Jenkins rest-api-deploy #318: succeeded (91dc324 on main)" in text
    )


def test_the_change_page_lists_the_alerts_it_is_a_top_suspect_of(web, demo):
    from changetrack.correlation.engine import current_suspects

    ranked = [s.change_id for s in current_suspects(demo, 10)]
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    text = web.get(f"/changes/{deploy.pk}/").content.decode()
    section = text.split('id="sus-h"')[1]
    assert demo.title in section and f"/alerts/{demo.pk}/" in section and "ranked #1" in section
    assert len(ranked) > 5
    low = ranked[5]  # ranked sixth for the only alert it is a suspect of: not worth listing
    assert 'id="sus-h"' not in web.get(f"/changes/{low}/").content.decode()


def test_a_redacted_secret_value_shows_as_changed_and_never_as_a_value(web):
    change = _store_change(
        kind="secret",
        external_id="s1",
        summary="Secret api-creds changed",
        diff=({"path": "data.PASSWORD", "before": "hunter2-old", "after": "hunter2-new", "redacted": True},),
    )
    text = web.get(f"/changes/{change.pk}/").content.decode()
    assert "data.PASSWORD" in text and ">changed<" in text
    assert "hunter2" not in text


def test_commits_between_versions_are_listed_from_either_shape(web):
    ranged = _store_change(
        external_id="r1",
        repository="acme/api",
        details={
            "commit_range": {
                "from": "a" * 40,
                "to": "b" * 40,
                "commits": [{"sha": "c" * 40, "message": "Fix the cache\n\nlong body", "author": {"login": "dana"}}],
            }
        },
    )
    text = web.get(f"/changes/{ranged.pk}/").content.decode()
    assert "Fix the cache" in text and "long body" not in text and "dana" in text
    assert f"https://github.com/acme/api/commit/{'c' * 40}" in text
    assert f"https://github.com/acme/api/compare/{'a' * 40}...{'b' * 40}" in text
    listed = _store_change(
        external_id="r2",
        details={
            "commits": [
                {
                    "id": "d" * 40,
                    "message": "Bump deps",
                    "author": "lee",
                    "url": "https://github.com/acme/api/commit/dd",
                },
                "e" * 40,
                42,
            ]
        },
    )
    text = web.get(f"/changes/{listed.pk}/").content.decode()
    assert "Bump deps" in text and "eeeeeee" in text


def test_a_flag_change_shows_its_before_and_after(web):
    change = _store_change(
        kind="feature_flag",
        source="launchdarkly",
        external_id="f1",
        summary="Turned on new-ui",
        details={"flag": {"before": {"on": False}, "after": {"on": True}}},
    )
    text = web.get(f"/changes/{change.pk}/").content.decode()
    assert "Flag before and after" in text and "&quot;on&quot;: false" in text and "&quot;on&quot;: true" in text


def test_ci_and_argo_links_are_shown_but_script_links_are_dropped(web):
    change = _store_change(
        external_id="l1",
        links=(
            {"title": "Jenkins build #12", "url": "https://ci.example.com/job/api/12/"},
            {"title": "Argo CD app", "url": "https://argo.example.com/applications/api"},
            {"title": "evil", "url": "javascript:alert(1)"},
        ),
    )
    text = web.get(f"/changes/{change.pk}/").content.decode()
    assert 'href="https://ci.example.com/job/api/12/"' in text and ">CI</span>" in text
    assert ">Argo CD</span>" in text
    assert "javascript:" not in text


def test_odd_details_never_break_the_change_page(web):
    change = _store_change(
        external_id="o1",
        details={"commit_range": "abc..def", "commits": "nope", "rollout": [1, 2], "flag": 3, "links": "x"},
        diff=({"nope": 1}, {"path": "a", "before": None, "after": {"x": [1]}}),
    )
    response = web.get(f"/changes/{change.pk}/")
    assert response.status_code == 200 and b"<code>a</code>" in response.content


def test_an_unknown_change_is_a_404(web):
    assert web.get("/changes/99999999/").status_code == 404


# --- what changed -------------------------------------------------------------------------------------------


def test_the_feed_lists_changes_across_every_service_in_the_window(web, demo):
    response = web.get("/changes/?minutes=60")
    summaries = [c.summary for c in response.context["changes"]]
    assert "Deploy rest-api 2.14.0 (replicas 50 → 5)" in summaries
    assert "HPA scaled data-processor 6 → 8" in summaries
    assert all(c.occurred_at >= timezone.now() - timedelta(minutes=61) for c in response.context["changes"])
    assert b"data-processor error rate above 5%" in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("minutes=60&kind=autoscale", {"HPA scaled data-processor 6 → 8"}),
        ("minutes=60&source=jenkins", {"Jenkins rest-api-deploy #318: succeeded (91dc324 on main)"}),
        ("minutes=60&team=data", {"HPA scaled data-processor 6 → 8"}),
        ("minutes=60&q=replicas", {"Deploy rest-api 2.14.0 (replicas 50 → 5)"}),
    ],
)
def test_the_feed_filters(web, demo, query, expected):
    assert {c.summary for c in web.get(f"/changes/?{query}").context["changes"]} == expected


def test_the_feed_has_an_empty_state_and_tolerates_a_bad_window(web):
    response = web.get("/changes/?minutes=abc")
    assert response.status_code == 200 and b"Nothing changed in the last 60 minutes" in response.content


def test_the_feed_shows_a_page_and_pages_back_through_every_change_of_the_window(web):
    from changetrack.web.feed import PAGE_ROWS

    now = timezone.now()
    store_records(
        [
            ChangeRecord(
                source="api",
                external_id=f"f{i}",
                kind="config",
                occurred_at=now - timedelta(seconds=10 * i),
                summary=f"feed change {i}",
                service=ServiceHint(name="busy", namespace="x", cluster="prod", create=True),
            )
            for i in range(PAGE_ROWS + 20)
        ]
    )
    first = web.get("/changes/?minutes=60&source=api")
    assert [c.summary for c in first.context["changes"]] == [f"feed change {i}" for i in range(PAGE_ROWS)]
    older = first.context["older_url"]
    assert older.startswith("?") and "source=api" in older and "Show older" in first.content.decode()
    second = web.get("/changes/" + older)
    assert [c.summary for c in second.context["changes"]] == [
        f"feed change {i}" for i in range(PAGE_ROWS, PAGE_ROWS + 20)
    ]
    assert second.context["older_url"] == "" and "Newest" in second.content.decode()
