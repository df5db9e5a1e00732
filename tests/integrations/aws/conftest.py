from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.integrations.aws.fake_aws import FakeAws
from tests.integrations.helpers import fixture_json

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105 - AWS's documentation example


@pytest.fixture
def fake():
    server = FakeAws()
    yield server
    server.close()


def cloudtrail_record(name: str = "revoke_security_group_ingress", at: datetime | None = None, **changes: Any) -> dict:
    """The CloudTrail record of fixture ``name``, with a new ``eventID`` (and ``eventTime`` ``at``) unless given."""
    record = copy.deepcopy(fixture_json("aws", name)["detail"])
    record["eventID"] = str(uuid.uuid4())
    if at is not None:
        record["eventTime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    record.update(changes)
    return record


def poll_config(fake: FakeAws, **extra: str) -> dict[str, str]:
    return {"regions": "eu-west-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "endpoint_url": fake.url, **extra}
