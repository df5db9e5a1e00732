"""Password login throttling: after ``LOGIN_FAILURE_LIMIT`` wrong passwords for a username (or five times as many
from one address, for guesses spread over many usernames), every password is refused, the right one included,
until ``LOGIN_LOCKOUT_SECONDS`` after the last failure. Counted in Redis so every web process shares the count.

It is an authentication backend, so the login page and the admin's login are covered alike; SSO logins do not go
through it. If Redis is unreachable logins are let through (availability over strictness) and that is logged."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from changetrack.infra import redis as shared_redis

logger = logging.getLogger(__name__)
#: one address may fail for this many usernames' worth of limits (an office behind one NAT is not locked at once)
ADDRESS_FACTOR = 5


def _keys(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    limit = settings.LOGIN_FAILURE_LIMIT
    # hashed: a username typed by a stranger is not kept in Redis as written
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"changetrack:login:user:{user}", limit)]
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    if address:
        keys.append((f"changetrack:login:ip:{address}", limit * ADDRESS_FACTOR))
    return keys


def locked(request: HttpRequest | None, username: str) -> bool:
    try:
        counts = shared_redis.client().mget([key for key, _ in _keys(request, username)])
    except redis.RedisError as exc:
        logger.warning("web.login.throttle_unavailable", extra={"error": repr(exc)})
        return False
    return any(int(count or 0) >= limit for count, (_, limit) in zip(counts, _keys(request, username), strict=True))


def record_failure(request: HttpRequest | None, username: str) -> None:
    try:
        pipe = shared_redis.client().pipeline()
        for key, _ in _keys(request, username):
            pipe.incr(key)
            pipe.expire(key, settings.LOGIN_LOCKOUT_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("web.login.throttle_unavailable", extra={"error": repr(exc)})


class ThrottledModelBackend(ModelBackend):
    """Django's username/password backend behind the failure counter."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None  # not a password login (another backend's credentials)
        if locked(request, username):
            if request is not None:
                request.login_throttled = True  # type: ignore[attr-defined]  # for ThrottledLoginForm's message
            logger.warning(
                "web.login.throttled", extra={"client_ip": request.META.get("REMOTE_ADDR") if request else ""}
            )
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(request, username)
        return user


class ThrottledLoginForm(AuthenticationForm):
    """The login page's form: says so when the refusal is the throttle, not the password."""

    throttled = False

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "login_throttled", False):
                self.throttled = True
                minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
                raise ValidationError(
                    f"Too many failed logins: try again in {minutes} minutes.", code="throttled"
                ) from None
            raise
