"""Kept only for the GitHub and LaunchDarkly poller tests, which another branch rewrites: every other test imports
``tests.integrations.helpers``, the one home of these helpers. Delete once the poller tests import from there."""

from __future__ import annotations

from tests.integrations.helpers import fixture_json as fixture

__all__ = ["fixture"]
