from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from changetrack import roles


@pytest.fixture
def user(db, django_user_model):
    """An admin (every page and form); tests of what a lower role may not do make their own users."""
    user = django_user_model.objects.create_user("oncall", password="correct horse battery staple")
    roles.set_role(user, roles.ADMIN)
    return user


@pytest.fixture
def login_as(db, django_user_model):
    """``login_as("viewer")``: a fresh test client logged in as a new user with that role (None: no role)."""

    def make(role: str | None, username: str | None = None) -> Client:
        person = django_user_model.objects.create_user(username or f"{role or 'norole'}-user")
        if role is not None:
            roles.set_role(person, role)
        browser = Client()
        browser.force_login(person)
        return browser

    return make


@pytest.fixture
def web(client, user):
    """A logged-in Django test client."""
    client.force_login(user)
    return client


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)
    from changetrack.models import Alert

    return Alert.objects.get(source="datadog", external_id="demo-dd-cycle-1")
