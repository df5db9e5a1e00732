from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user("oncall", password="correct horse battery staple")


@pytest.fixture
def web(client, user):
    """A logged-in Django test client."""
    client.force_login(user)
    return client


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)
    from changetrack.models import Alert

    return Alert.objects.get(source="demo", external_id="demo-dd-cycle-1")
