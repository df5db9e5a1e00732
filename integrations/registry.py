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
    from integrations.argocd import ArgoCDIntegration
    from integrations.github import GitHubIntegration
    from integrations.jenkins import JenkinsIntegration
    from integrations.launchdarkly import LaunchDarklyIntegration

    register(GitHubIntegration())
    register(LaunchDarklyIntegration())
    register(JenkinsIntegration())
    register(ArgoCDIntegration())


_load()
