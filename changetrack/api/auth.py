"""Bearer tokens over ``ApiToken`` (only a SHA-256 is stored), per-endpoint scopes, and a Redis rate limit."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from changetrack import audit
from changetrack.infra import redis as shared_redis
from changetrack.models import ApiToken
from changetrack.models.tokens import hash_token

logger = logging.getLogger(__name__)

#: last_used_at is a hint for people, not an audit log: write it at most once a minute per token
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass
class TokenUser:
    """``request.user`` for a token request; ``request.auth`` is the ``ApiToken``."""

    token: ApiToken
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def username(self) -> str:
        return f"token:{self.token.name}"

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``. No header → anonymous (the permission answers 401); an unknown or
    revoked token → 401 at once."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <token>'.")
        token = ApiToken.objects.filter(key_hash=hash_token(value.strip())).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        _touch(token)
        audit.bind_token(token)
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # conditional UPDATE: concurrent requests of one token write once per minute, not once each
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
        token.last_used_at = now


class HasScope(permissions.BasePermission):
    """Views declare ``read_scope`` (safe methods) and ``write_scope`` (others); ``admin`` grants every scope."""

    message = "This token lacks the required scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.NotAuthenticated("An API token is required: 'Authorization: Bearer <token>'.")
        needed = (
            getattr(view, "read_scope", "read")
            if request.method in permissions.SAFE_METHODS
            else getattr(view, "write_scope", "write")
        )
        if needed in token.scopes or "admin" in token.scopes:
            return True
        raise exceptions.PermissionDenied(
            f"This token lacks the '{needed}' scope (it has: {', '.join(token.scopes) or 'none'})."
        )


class TokenRateThrottle(throttling.BaseThrottle):
    """Fixed one-minute windows per token, counted in Redis so every web process shares the count.

    The limit is the token's ``rate_limit_per_minute``. If Redis is unreachable requests are let through
    (availability over strictness) and the failure is logged."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        now = time.time()
        window = int(now // 60)
        key = f"changetrack:api:rate:{token.pk}:{window}"
        try:
            pipe = shared_redis.client().pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            logger.warning("api.ratelimit.unavailable", extra={"error": repr(exc)})
            return True
        if count > token.rate_limit_per_minute:
            self._wait = (window + 1) * 60 - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
