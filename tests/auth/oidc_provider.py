"""A small OpenID Connect provider on 127.0.0.1 speaking the real protocol (authorization code flow with PKCE):
discovery, ``/authorize``, ``/token``, ``/userinfo``, ``/jwks``. RS256 ID tokens are signed with an RSA key made
at test time; the tests set who is "signed in at the provider" and can make it misbehave (another signing key, a
wrong nonce, another audience)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalOIDCProvider:
    """Use as a context manager. ``user`` is the claims of the person who signs in at ``/authorize``."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.key = new_key()
        self.kid = "key-1"
        self.signing_key = self.key  # what /token signs with; a test swaps in a key the JWKS does not publish
        self.signing_kid = self.kid
        self.user: dict[str, Any] = {"sub": "subject-1"}
        self.groups_in_userinfo_only = False
        self.nonce_override: str | None = None
        self.audience_override: str | None = None
        self.hits: list[str] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LocalOIDCProvider:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """RFC 6749 §4.1.1 with PKCE (RFC 7636): a redirect back with a one-time code and the state."""
        if query.get("client_id") != self.client_id or query.get("redirect_uri") != self.redirect_uri:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return 400, {}, {"error": "invalid_request"}
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, {"error": "invalid_request", "error_description": "PKCE S256 required"}
        code = secrets.token_urlsafe(16)
        self._codes[code] = {"query": query, "user": dict(self.user)}
        back = urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": f"{self.redirect_uri}?{back}"}, {}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """RFC 6749 §4.1.3: the code for an access token and an ID token (OpenID Connect Core §3.1.3.3)."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        query = grant["query"]
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if form.get("redirect_uri") != query["redirect_uri"] or challenge != query["code_challenge"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        user = grant["user"]
        claims = {
            **({k: v for k, v in user.items() if k != "groups"} if self.groups_in_userinfo_only else user),
            "iss": self.url,
            "aud": self.audience_override or self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce_override or query.get("nonce"),
        }
        id_token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.signing_kid})
        access_token = secrets.token_urlsafe(16)
        self._access[access_token] = user
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        user = self._access.get(authorization.removeprefix("Bearer "))
        return (401, {"error": "invalid_token"}) if user is None else (200, user)


def _handler(provider: LocalOIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            provider.hits.append(parts.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._answer(200, provider.discovery())
            elif parts.path == "/jwks":
                self._answer(200, provider.jwks())
            elif parts.path == "/authorize":
                status, headers, body = provider.authorize(query)
                self._answer(status, body, headers)
            elif parts.path == "/userinfo":
                self._answer(*provider.userinfo(self.headers.get("Authorization", "")))
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            provider.hits.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if self.path == "/token":
                self._answer(*provider.token(form, self.headers.get("Authorization", "")))
            else:
                self._answer(404, {"error": "not_found"})

    return Handler
