"""The explicit list of integrations. Adding one is one line here (and its package)."""

from __future__ import annotations

from integrations.base import Integration

INTEGRATIONS: dict[str, Integration] = {}


def register(integration: Integration) -> None:
    INTEGRATIONS[integration.slug] = integration


def get(slug: str) -> Integration | None:
    return INTEGRATIONS.get(slug)


def _load() -> None:
    # One line per integration: import inside the function so `integrations.base` stays import-cycle free.
    from integrations.alertmanager import AlertmanagerIntegration
    from integrations.argocd import ArgoCDIntegration
    from integrations.aws import AwsIntegration
    from integrations.datadog import DatadogIntegration
    from integrations.generic import GenericIntegration
    from integrations.github import GitHubIntegration
    from integrations.grafana import GrafanaIntegration
    from integrations.grafana.annotating import GrafanaAnnotationsIntegration
    from integrations.jaeger import JaegerIntegration
    from integrations.jenkins import JenkinsIntegration
    from integrations.launchdarkly import LaunchDarklyIntegration
    from integrations.opsgenie import OpsgenieIntegration
    from integrations.pagerduty import PagerDutyIntegration
    from integrations.prometheus_servicegraph import PrometheusServiceGraphIntegration
    from integrations.slack import SlackIntegration
    from integrations.webhook import WebhookIntegration

    for integration in (
        GenericIntegration(),
        GitHubIntegration(),
        LaunchDarklyIntegration(),
        JenkinsIntegration(),
        ArgoCDIntegration(),
        DatadogIntegration(),
        PagerDutyIntegration(),
        AlertmanagerIntegration(),
        GrafanaIntegration(),
        OpsgenieIntegration(),
        SlackIntegration(),
        WebhookIntegration(),
        PrometheusServiceGraphIntegration(),
        JaegerIntegration(),
        GrafanaAnnotationsIntegration(),
        AwsIntegration(),
    ):
        register(integration)


_load()
