"""Search across changes (``/search/``, the top bar, ``GET /api/v1/changes?q=``): by commit SHA or a prefix, image
or tag, version, actor and flag key, through the GIN index on the change's terms."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from changetrack import search
from changetrack.ingest.store import store_records
from changetrack.models import Change
from integrations.base import ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db

SHA = "91dc324e8f0b5a7c6d1e2f3a4b5c6d7e8f901234"
REST = ServiceHint(name="rest-api", namespace="shop", cluster="prod-us", create=True)
CHECKOUT = ServiceHint(name="checkout", namespace="shop", cluster="prod-us", create=True)


def record(external_id: str, minutes_ago: float, service: ServiceHint, actor: str, **kw) -> ChangeRecord:
    kw.setdefault("kind", "deploy")
    kw.setdefault("source", "api")
    kw.setdefault("summary", f"{kw['kind']} {external_id}")
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return ChangeRecord(external_id=external_id, occurred_at=at, service=service, actor=actor, **kw)


@pytest.fixture
def changes():
    """What the integrations store: a Kubernetes rollout, a LaunchDarkly flag change, an API release with a version,
    a CI build with several culprits, and noise."""
    image = "registry.example.com/acme/rest-api:1.4.2"
    rollout = {
        "old_image": "registry.example.com/acme/rest-api:1.4.1",
        "new_image": image,
        "images": {"app": image, "proxy": "envoyproxy/envoy:v1.29.1"},
        "revision": "7",
    }
    store_records(
        [
            record("deploy-rest", 30, REST, "alice@example.com", source="kubernetes", details=rollout, commit_sha=SHA),
            record(
                "flag-on",
                20,
                CHECKOUT,
                "priya.shah@example.com",
                source="launchdarkly",
                kind="feature_flag",
                details={"flag": "new-payment-flow", "environment": "production"},
            ),  # fmt: skip
            record(
                "release-2.14.0",
                10,
                CHECKOUT,
                "Dana Kim",
                summary="Release of checkout",
                details={"version": {"from": "2.13.2", "to": "2.14.0"}},
            ),  # fmt: skip
            record("build#12", 5, CHECKOUT, "bob, carol", source="jenkins", kind="ci"),
            *[
                record(
                    f"noise-{i}",
                    120 + i,
                    REST,
                    "robot",
                    kind="config",
                    summary=f"Config tweak {i} mentioning 91dc324 and alice in the summary only",
                    commit_sha=f"{i:02d}aa000000000000000000000000000000000000",
                )  # fmt: skip
                for i in range(5)
            ],
        ]
    )
    return {c.external_id: c.pk for c in Change.objects.all()}


def found(web, q: str) -> list[int]:
    response = web.get("/search/", {"q": q})
    assert response.status_code == 200, response.content[:500]
    return [row.id for row in response.context["changes"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("91dc324", "deploy-rest"),  # a short SHA, as in a commit message or a chat
        (SHA, "deploy-rest"),  # the full SHA
        ("91DC324E8F", "deploy-rest"),  # pasted upper-case
        ("1.4.2", "deploy-rest"),  # an image tag
        ("rest-api:1.4", "deploy-rest"),  # image name and tag prefix
        ("registry.example.com/acme/rest-api:1.4.2", "deploy-rest"),  # the whole image reference
        ("envoy:v1.29", "deploy-rest"),  # a sidecar's image
        ("alice", "deploy-rest"),  # an actor by the start of their address
        ("new-payment-flow", "flag-on"),  # a flag key
        ("new-pay", "flag-on"),
        ("2.14", "release-2.14.0"),  # a version
        ("dana", "release-2.14.0"),  # an actor by one of their names
        ("carol", "build#12"),  # one of several culprits
    ],
)
def test_a_change_is_found_by_what_a_responder_has_in_hand(web, changes, query, expected):
    assert found(web, query) == [changes[expected]]


def test_every_word_must_match_so_a_second_word_narrows(web, changes):
    assert found(web, "alice 91dc") == [changes["deploy-rest"]]
    assert found(web, "alice new-payment") == []


def test_the_summary_and_old_image_are_not_search_terms(web, changes):
    """Only the new image counts (the old one would find the change that moved away from it), and summary words
    are the feed's filter, not this index."""
    assert found(web, "1.4.1") == []
    assert found(web, "mentioning") == []


def test_results_are_newest_first_and_link_to_the_change(web, changes):
    response = web.get("/search/", {"q": "shop"})  # nothing: namespace is not a term
    assert response.status_code == 200 and response.context["changes"] == []
    response = web.get("/search/", {"q": "robot"})
    ids = [row.id for row in response.context["changes"]]
    assert ids == [changes[f"noise-{i}"] for i in range(5)]
    assert f'href="/changes/{ids[0]}/"'.encode() in response.content


@pytest.mark.parametrize("query", ["ab", " a ", "x" * 201, "// :: //", " ".join(f"w{i}xx" for i in range(9))])
def test_a_query_that_cannot_be_searched_answers_400_saying_why(web, changes, query):
    response = web.get("/search/", {"q": query})
    assert response.status_code == 400
    assert b'role="alert"' in response.content


def test_an_empty_query_shows_the_form(web):
    response = web.get("/search/")
    assert response.status_code == 200 and b'name="q"' in response.content


def test_quotes_backslashes_and_tsquery_operators_are_searched_as_text(web, changes):
    for query in ["o'hara", "a\\b\\c", "abc & !def | (ghi)", "'91dc':*", "x<->y"]:
        assert web.get("/search/", {"q": query}).status_code == 200


def test_the_top_bar_has_the_search_box_on_every_page(web):
    body = web.get("/").content.decode()
    assert 'action="/search/"' in body and 'name="q"' in body


def test_the_search_uses_the_index_on_every_partition(changes):
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        plan = search.matching(Change.objects.all(), "91dc324").explain()
    assert "change_search" in plan or "Bitmap Index Scan" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_migration_indexes_the_expression_the_queries_use():
    migration = importlib.import_module("changetrack.migrations.0013_change_search")
    assert migration.TERMS == search.INDEX_TERMS_SQL


def test_query_words_split_as_the_terms_do():
    assert search.words("Rest-API:1.4 ALICE, alice") == ["rest-api", "1.4", "alice"]
    assert search.prefix_query("o'hara 91dc") == "'o':* & 'hara':* & '91dc':*"
