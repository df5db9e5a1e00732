"""Every fixture under ``tests/integrations/*/fixtures/``, sent as its vendor sends it through the real receiver
and pipeline, has the outcome this table documents: records (how many), ignored (202, with the reason), or
refused (4xx, with the reason). A fixture missing from the table fails, so none goes without one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from changetrack.models import Alert, Change, Delivery
from tests.integrations.helpers import as_sent, drain, post

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).parent
SECRET = "outcome-secret-0123456789"
FIXTURES = sorted(
    f"{p.parent.parent.name}/{p.stem}" for p in ROOT.glob("*/fixtures/*.json") if not p.name.endswith(".headers.json")
)


@dataclass(frozen=True)
class Records:
    """Accepted (202) and stored as this many changes and alerts."""

    count: int


@dataclass(frozen=True)
class Ignored:
    """Accepted (202) and stored as ignored; the answer's ``detail`` contains ``reason``."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """Answered ``status`` with problem+json whose ``detail`` contains ``reason``; nothing stored."""

    status: int
    reason: str


OUTCOMES: dict[str, Records | Ignored | Refused] = {
    "alertmanager/group_firing": Records(2),
    "alertmanager/group_resolved": Records(2),
    "alertmanager/no_fingerprint_firing": Records(1),
    "alertmanager/one_bad_alert_firing": Records(2),
    "alertmanager/service_labels_firing": Records(1),
    "alertmanager/version_3_unsupported": Ignored("version-3"),
    "alertmanager/zero_ends_at_resolved": Records(2),
    "argocd/app_deleted_unsupported": Ignored("app-deleted"),
    "argocd/no_operation_state_degraded": Records(1),
    "argocd/no_operation_state_without_sync_revision_rejected": Refused(400, "revision"),
    "argocd/sync_failed": Records(1),
    "argocd/sync_running": Records(1),
    "argocd/sync_succeeded_healthy": Records(1),
    "aws/attach_group_policy": Records(1),
    "aws/attach_role_policy": Records(1),
    "aws/attach_user_policy": Records(1),
    "aws/authorize_security_group_egress": Records(1),
    "aws/authorize_security_group_ingress": Records(1),
    "aws/change_resource_record_sets": Records(1),
    "aws/create_listener": Records(1),
    "aws/delete_listener": Records(1),
    "aws/deregister_targets": Records(1),
    "aws/describe_security_groups_read_only_ignored": Ignored("read-only"),
    "aws/ec2_instance_state_change_unsupported": Ignored("EC2 Instance State-change Notification"),
    "aws/modify_db_cluster": Records(1),
    "aws/modify_db_instance": Records(1),
    "aws/modify_db_parameter_group": Records(1),
    "aws/modify_listener": Records(1),
    "aws/modify_rule": Records(1),
    "aws/modify_security_group_rules": Records(1),
    "aws/modify_target_group": Records(1),
    "aws/put_bucket_tagging_not_listed_ignored": Ignored("allow-list"),
    "aws/put_group_policy": Records(1),
    "aws/put_parameter": Records(1),
    "aws/put_role_policy": Records(1),
    "aws/put_user_policy": Records(1),
    "aws/register_targets": Records(1),
    "aws/revoke_security_group_egress": Records(1),
    "aws/revoke_security_group_ingress": Records(1),
    "aws/revoke_security_group_ingress_failed_ignored": Ignored("Client.UnauthorizedOperation"),
    "aws/update_auto_scaling_group": Records(1),
    "aws/update_function_code": Records(1),
    "aws/update_function_configuration": Records(1),
    "aws/update_service": Records(1),
    "datadog/alert_variables_triggered": Records(1),
    "datadog/default_payload_recovered": Records(1),
    "datadog/default_payload_triggered": Records(1),
    "datadog/no_data": Records(1),
    "datadog/null_transition_unsupported": Ignored("'Null'"),
    "datadog/re_triggered": Records(1),
    "datadog/recovered": Records(1),
    "datadog/renotify": Records(1),
    "datadog/triggered": Records(1),
    "datadog/warn": Records(1),
    "generic/change_powershell_bom": Records(1),
    "generic/heartbeat_unsupported": Ignored("'heartbeat'"),
    "github/check_suite_completed_unsupported": Ignored("check_suite"),
    "github/deployment": Records(1),
    "github/deployment_status_failure": Records(1),
    "github/deployment_status_inactive_unsupported": Ignored("inactive"),
    "github/deployment_status_success": Records(1),
    "github/ping_ignored": Records(0),
    "github/pull_request_closed_merged": Records(1),
    "github/pull_request_opened_unsupported": Ignored("only merged pull requests"),
    "github/push": Records(1),
    "github/push_form_encoded": Records(1),
    "github/push_legacy_without_full_name": Records(1),
    "github/push_tag_unsupported": Ignored("not a branch push"),
    "github/workflow_run_completed": Records(1),
    "github/workflow_run_in_progress": Records(1),
    "github/workflow_run_pull_request_unsupported": Ignored("workflow run for pull_request"),
    "grafana/alert_firing": Records(1),
    "grafana/alert_resolved": Records(1),
    "grafana/version_0_unsupported": Ignored("version-0"),
    "jenkins/build_completed_failure": Records(1),
    "jenkins/build_deleted_unsupported": Ignored("DELETED"),
    "jenkins/build_finalized": Records(1),
    "jenkins/build_queued_ignored": Records(0),
    "jenkins/build_started": Records(1),
    "jenkins/multibranch_completed": Records(1),
    "jenkins/multibranch_finalized": Records(1),
    "jenkins/multibranch_other_repo_completed": Records(1),
    "jenkins/multibranch_started": Records(1),
    "launchdarkly/flag_turned_off_by_token": Records(1),
    "launchdarkly/flag_updated_on": Records(1),
    "launchdarkly/flag_updated_rollout": Records(1),
    "launchdarkly/member_invited_unsupported": Ignored("member"),
    "opsgenie/acknowledge": Records(1),
    "opsgenie/add_note_unsupported": Ignored("AddNote"),
    "opsgenie/close": Records(1),
    "opsgenie/create": Records(1),
    "opsgenie/create_priority_int": Records(1),
    "opsgenie/delete": Records(1),
    "opsgenie/unacknowledge": Records(1),
    "pagerduty/change_event": Records(1),
    "pagerduty/change_event_rollback": Records(1),
    "pagerduty/incident_acknowledged": Records(1),
    "pagerduty/incident_annotated_unsupported": Ignored("incident.annotated"),
    "pagerduty/incident_reopened": Records(1),
    "pagerduty/incident_resolved": Records(1),
    "pagerduty/incident_triggered": Records(1),
    "pagerduty/incident_unacknowledged": Records(1),
    "pagerduty/pagey_ping_ignored": Records(0),
}


def test_every_fixture_has_a_documented_outcome_and_every_outcome_a_fixture():
    assert sorted(OUTCOMES) == FIXTURES


@pytest.mark.parametrize("fixture", FIXTURES)
def test_a_fixture_sent_as_its_vendor_sends_it_has_its_documented_outcome(
    client, connection_factory, redis_client, fixture
):
    slug, name = fixture.split("/")
    body, headers, clear, hashed = as_sent(slug, name, SECRET)
    conn = connection_factory(slug, clear=clear, hashed=hashed)
    response = post(client, conn, body, headers)
    expected = OUTCOMES[fixture]
    if isinstance(expected, Refused):
        assert response.status_code == expected.status, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert expected.reason in response.json()["detail"]
        assert not Delivery.objects.exists()
        return
    assert response.status_code == 202, response.content
    drain()
    delivery = Delivery.objects.get()
    if isinstance(expected, Ignored):
        assert response.json()["status"] == "ignored" and delivery.status == "ignored"
        assert expected.reason in response.json()["detail"]
        assert not Change.objects.exists() and not Alert.objects.exists()
        return
    assert delivery.status == "processed", delivery.error
    assert Change.objects.count() + Alert.objects.count() == expected.count
