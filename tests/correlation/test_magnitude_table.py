"""Magnitude as tables: every shape a source sends (Kubernetes diff, API details from/to, version strings,
CloudTrail events) → the risk it adds and the note that explains it. Pure functions, no database."""

from __future__ import annotations

import pytest

from changetrack.correlation import magnitude
from changetrack.correlation.scoring import Facts, risk


@pytest.mark.parametrize(
    ("diff", "details", "expected"),
    [
        ([{"path": "spec.replicas", "before": 50, "after": 5}], {}, (50.0, 5.0)),  # the collector's diff
        ([], {"replicas": {"from": 30, "to": 3}}, (30.0, 3.0)),  # the API contract's details
        ([], {"desired_count": {"before": "4", "after": "2"}}, (4.0, 2.0)),  # ECS, numbers as text
        ([], {"DesiredCapacity": {"old": 6, "new": 9}}, (6.0, 9.0)),  # an auto scaling group
        ([], {"replicas": 3}, None),  # a plain value says nothing about what it was
        ([{"path": "spec.replicas", "before": True, "after": 2}], {}, None),  # not a count
    ],
)
def test_replica_counts_are_read_from_diffs_and_details(diff, details, expected):
    assert magnitude.replica_change(diff, details) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("shop/rest-api:2.13.4", "shop/rest-api:2.14.0", "minor"),
        ("rest-api:v1.9.2", "rest-api:v2.0.0", "major"),
        ("1.4.2", "1.4.3", "patch"),
        ("2.0.0", "1.9.9", "downgrade"),
        ("registry:5000/api:3.1.0@sha256:abc", "registry:5000/api:3.2.0@sha256:def", "minor"),
        ("2.0.0rc1", "2.0.0", "patch"),  # a release candidate to its release
        ("api:812", "api:813", None),  # a build number is no semantic version
        ("api:latest", "api:latest-2", None),
        ("1.2.0", "1.2.0", None),
        (None, "1.0.0", None),
    ],
)
def test_version_distance_uses_semantic_versions_not_build_numbers(before, after, expected):
    assert magnitude.version_distance(before, after) == expected


@pytest.mark.parametrize(
    ("kind", "diff", "details", "risk_value", "note"),
    [
        # the case: a scale posted through the API with details from/to is a 90 % cut, not a plain scale
        ("scale", [], {"replicas": {"from": 30, "to": 3}}, 0.93, "replicas 30 → 3 (90% cut)"),
        ("scale", [{"path": "spec.replicas", "before": 30, "after": 3}], {}, 0.93, "replicas 30 → 3 (90% cut)"),
        ("scale", [], {"replicas": {"from": 3, "to": 30}}, 0.3, "replicas 3 → 30"),
        # image changes: the change itself, then its semantic distance
        ("deploy", [], {"image": {"from": "api:2.13.0", "to": "api:3.0.0"}}, 0.9, "major version change"),
        ("deploy", [], {"image": {"from": "api:2.13.0", "to": "api:2.14.0"}}, 0.78, "minor version change"),
        ("deploy", [], {"image": {"from": "api:2.13.0", "to": "api:2.13.1"}}, 0.7, "image changed"),
        ("deploy", [], {"image": {"from": "api:811", "to": "api:812"}}, 0.7, "image changed"),
        ("deploy", [], {"previous_version": "1.4.0", "version": "2.0.0"}, 0.8, "major version change"),
        ("rollback", [], {"version": {"from": "2.0.0", "to": "1.9.0"}}, 0.55, "version downgraded"),
        # configuration keys: how many, and whether they tune connections, limits or timeouts
        ("config", [{"path": "data.GREETING", "before": "a", "after": "b"}], {}, 0.73, "1 key changed: GREETING"),
        (
            "config",
            [{"path": f"data.{k}", "before": "1", "after": "2"} for k in ("A", "B", "DB_POOL_SIZE", "C", "D")],
            {},
            0.9,
            "5 keys changed: DB_POOL_SIZE, A, B and 2 more",
        ),
        ("config", [], {"timeout_ms": {"from": 500, "to": 50}}, 0.81, "1 key changed: timeout_ms"),
        # CloudTrail: what the event did, not just "infrastructure"
        ("infra", [], {"event_name": "RevokeSecurityGroupIngress"}, 0.95, "ingress rule removed"),
        ("infra", [], {"event_name": "ModifyDBParameterGroup"}, 0.9, "database parameter changed"),
        ("infra", [], {"event_name": "ChangeResourceRecordSets"}, 0.85, "DNS records changed"),
        ("infra", [], {"event_name": "AuthorizeSecurityGroupIngress"}, 0.3, "ingress rule added"),
        ("infra", [], {"event_name": "AttachRolePolicy"}, 0.35, "policy attached to a role"),
        ("infra", [], {"event_name": "CreateTags"}, 0.05, "tags edited"),
        ("infra", [], {"event_name": "SomethingNew"}, 0.5, "SomethingNew"),
        (
            "infra",
            [],
            {"eventName": "UpdateAutoScalingGroup", "DesiredCapacity": {"from": 10, "to": 2}},
            1.0,
            "80% cut",
        ),
    ],
)
def test_risk_reads_magnitude_from_every_shape(kind, diff, details, risk_value, note):
    r = risk(kind, "succeeded", "", diff, details, "", 1, Facts())
    assert r.value == pytest.approx(risk_value, abs=1e-6)
    assert any(note in n for n in r.notes), r.notes


@pytest.mark.parametrize(
    ("riskier", "safer"),
    [
        (("infra", {"event_name": "RevokeSecurityGroupIngress"}), ("infra", {"event_name": "CreateTags"})),
        (("infra", {"event_name": "ModifyDBParameterGroup"}), ("infra", {"event_name": "AttachRolePolicy"})),
        (
            ("deploy", {"image": {"from": "a:1.0.0", "to": "a:2.0.0"}}),
            ("deploy", {"image": {"from": "a:1.0.0", "to": "a:1.0.1"}}),
        ),
        (("scale", {"replicas": {"from": 30, "to": 3}}), ("scale", {"replicas": {"from": 30, "to": 20}})),
    ],
)
def test_bigger_changes_are_riskier(riskier, safer):
    facts = Facts()
    assert (
        risk(riskier[0], "", "", [], riskier[1], "", 1, facts).value
        > risk(safer[0], "", "", [], safer[1], "", 1, facts).value
    )


def test_a_field_that_did_not_change_adds_nothing():
    r = risk(
        "deploy",
        "",
        "",
        [{"path": "spec.template.spec.containers[app].image", "before": "a:1", "after": "a:1"}],
        {},
        "",
        1,
        Facts(),
    )
    assert r.value == pytest.approx(0.6) and r.notes == []
