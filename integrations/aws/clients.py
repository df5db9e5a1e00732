"""boto3 clients for the polls, and what their errors mean to the runner.

How this honours the polling contract although boto3 makes its own HTTP connections (as PyGithub does, see
``integrations.github.poller``): the client takes the runner session's timeout and its retry policy (the urllib3
``Retry``: how many retries, the backoff, which statuses) in place of botocore's, which would also retry a throttle
and sleep through it inside the worker. So 5xx answers and connection errors are retried as for every source; a
throttle (``ThrottlingException`` and kin) is never retried: it becomes ``RateLimited``. A 5xx or an unreachable
endpoint after the retries is ``RateLimited`` for ``TRANSIENT_PAUSE`` (the runner comes back), anything else
``PollError``.

CloudTrail allows LookupEvents 2 requests per second per account and region
(https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html): ``paced()`` spaces the
requests of one account, region and endpoint at least ``interval`` apart within this process, a sub-second pause
of the kind PyGithub makes between GitHub requests, never a sleep through a rate-limit window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from integrations.base import TRANSIENT_PAUSE, PollError, PollSession, RateLimited, Secrets, resume_after

THROTTLING = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded"}
)
#: how long a throttled connection rests: AWS's throttling errors say nothing about when to come back, and the
#: runner would not come back before the poll interval (5 minutes) anyway
THROTTLE_PAUSE = timedelta(minutes=5)
_last_request: dict[tuple[str, ...], float] = {}
_pace_lock = threading.Lock()


def regions(config: Mapping[str, Any]) -> list[str]:
    """The ``regions`` setting: comma-separated region names."""
    return [r.strip() for r in str(config.get("regions") or "").split(",") if r.strip()]


def client(service: str, region: str, config: Mapping[str, Any], secrets: Secrets, session: PollSession) -> Any:
    """A boto3 client of ``service`` in ``region`` with the connection's credentials (its access key, else the
    default chain: IRSA, instance role), assuming ``role_arn`` when set, and ``endpoint_url`` when set."""
    key_id = str(config.get("access_key_id") or "").strip() or None
    secret = secrets.get("secret_access_key") or None
    if bool(key_id) != bool(secret):
        raise PollError("an access key ID needs its secret access key (or set neither, for the default chain)")
    endpoint = str(config.get("endpoint_url") or "").strip() or None
    settings = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=session.timeout,
        read_timeout=session.timeout,
        user_agent_extra="changetrack-poller",
    )
    boto = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region)
    role = str(config.get("role_arn") or "").strip()
    if role:
        sts = boto.client("sts", endpoint_url=endpoint, config=settings)
        creds = sts.assume_role(RoleArn=role, RoleSessionName="changetrack")["Credentials"]
        boto = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
    api = boto.client(service, endpoint_url=endpoint, config=settings)
    service_id = api.meta.service_model.service_id.hyphenize()
    api.meta.events.register(f"needs-retry.{service_id}", retry_like(session), unique_id="changetrack-retry")
    return api


def retry_like(session: PollSession) -> Callable[..., float | None]:
    """A botocore ``needs-retry`` handler following ``session``'s retry policy: seconds to wait before the next
    attempt, or None (no retry). botocore's own handler, limited to one attempt, always answers None."""
    policy = session.retry
    total = policy.total if isinstance(policy.total, int) else 0
    backoff = float(policy.backoff_factor or 0)
    statuses = frozenset(policy.status_forcelist or ())

    def needs_retry(attempts: int, response: Any = None, caught_exception: Any = None, **kwargs: Any) -> float | None:
        if attempts > total:
            return None
        if caught_exception is not None:
            transient = isinstance(caught_exception, (BotoConnectionError, HTTPClientError))
        else:
            http, parsed = response
            code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            transient = http.status_code in statuses and code not in THROTTLING
        return backoff * 2 ** (attempts - 1) if transient else None

    return needs_retry


@contextmanager
def translated_errors(label: str, now: datetime) -> Iterator[None]:
    """Turn botocore's errors into the runner's (see the module docstring)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code, status = str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)
        if code in THROTTLING or status == 429:
            come_back = max(resume_after(meta.get("HTTPHeaders") or {}, now), now + THROTTLE_PAUSE)
            raise RateLimited(come_back, f"{label} rate limited ({code}, throttled)") from None
        if status >= 500:
            raise RateLimited(now + TRANSIENT_PAUSE, f"{label} answered {status} ({code})") from None
        raise PollError(f"{label} refused: {code}: {str(error.get('Message', ''))[:200]}") from None
    except (BotoConnectionError, HTTPClientError) as exc:
        raise RateLimited(now + TRANSIENT_PAUSE, f"{label} unreachable: {type(exc).__name__}") from None
    except BotoCoreError as exc:  # no credentials, a parameter botocore refuses: a retry soon would not help
        raise PollError(f"{label}: {exc}"[:300]) from None


def paced(key: tuple[str, ...], interval: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until ``interval`` seconds have passed since the last request with this ``key`` (at most
    ``interval``), then count this one."""
    with _pace_lock:
        wait = _last_request.get(key, 0.0) + interval - time.monotonic()
        if wait > 0:
            sleep(min(wait, interval))
        _last_request[key] = time.monotonic()


def pace_key(service: str, region: str, config: Mapping[str, Any]) -> tuple[str, ...]:
    """Requests that share a rate limit: one account (as far as we can tell: its key or role), one region."""
    who = str(config.get("role_arn") or config.get("access_key_id") or "default")
    return (service, who, region, str(config.get("endpoint_url") or ""))
