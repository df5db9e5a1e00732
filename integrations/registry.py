"""The explicit list of integrations. Adding one is one line here (and its package)."""

from __future__ import annotations

from integrations.base import Integration

INTEGRATIONS: dict[str, Integration] = {}


def register(integration: Integration) -> None:
    INTEGRATIONS[integration.slug] = integration


def get(slug: str) -> Integration | None:
    return INTEGRATIONS.get(slug)


def _load() -> None:
    from integrations.generic import GenericIntegration

    register(GenericIntegration())
    # Vendor integrations register here, one line each.
    from integrations.datadog import DatadogIntegration; register(DatadogIntegration())  # noqa: E702, I001
    from integrations.pagerduty import PagerDutyIntegration; register(PagerDutyIntegration())  # noqa: E702, I001
    from integrations.alertmanager import AlertmanagerIntegration; register(AlertmanagerIntegration())  # noqa: E702, I001
    from integrations.opsgenie import OpsgenieIntegration; register(OpsgenieIntegration())  # noqa: E702, I001


_load()
