"""The OIDC_* variables: SSO off when unset, start-up refused with the variable named when one is wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from changetrack.sso.backend import groups_of
from changetrack.sso.config import from_env, parse_role_map

BASE = {"OIDC_ISSUER": "https://idp.example.com/realms/ops", "OIDC_CLIENT_ID": "changetrack", "OIDC_CLIENT_SECRET": "s"}


def test_sso_is_off_when_no_oidc_variable_is_set():
    assert from_env({"PATH": "/usr/bin", "OIDC_SCOPES": " "}) is None


def test_the_defaults_ask_for_groups_and_create_users():
    sso = from_env(BASE)
    assert sso is not None
    assert sso.scopes == "openid email profile groups" and sso.groups_claim == "groups" and sso.create_users
    assert sso.role_map == () and sso.role_for(["anything"]) is None


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"])
def test_a_half_configured_sso_names_the_missing_variable(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ImproperlyConfigured, match=missing):
        from_env(env)


@pytest.mark.parametrize(
    "issuer", ["http://idp.example.com", "ftp://idp.example.com", "idp.example.com", "http://10.0.0.5:8080"]
)
def test_an_issuer_other_than_https_is_refused_except_on_this_machine(issuer):
    with pytest.raises(ImproperlyConfigured, match="OIDC_ISSUER"):
        from_env({**BASE, "OIDC_ISSUER": issuer})


@pytest.mark.parametrize("issuer", ["http://localhost:8080/realms/dev", "http://127.0.0.1:5556", "http://[::1]:9000"])
def test_a_provider_on_this_machine_may_use_http(issuer):
    assert from_env({**BASE, "OIDC_ISSUER": issuer}) is not None


def test_an_explicit_endpoint_must_be_https_too():
    with pytest.raises(ImproperlyConfigured, match="OIDC_TOKEN_ENDPOINT"):
        from_env({**BASE, "OIDC_TOKEN_ENDPOINT": "http://idp.example.com/token"})


def test_the_scopes_must_include_openid():
    with pytest.raises(ImproperlyConfigured, match="OIDC_SCOPES"):
        from_env({**BASE, "OIDC_SCOPES": "email profile"})


def test_the_client_secret_is_not_in_the_configurations_repr():
    assert "s3cr3t-value" not in repr(from_env({**BASE, "OIDC_CLIENT_SECRET": "s3cr3t-value"}))


def test_the_role_map_gives_the_highest_role_of_the_mapped_groups():
    sso = from_env({**BASE, "OIDC_ROLE_MAP": " sre-admins=admin , oncall=responder,*=viewer,/ops/a=b=responder"})
    assert sso is not None
    assert sso.role_for(["oncall", "sre-admins"]) == "admin"
    assert sso.role_for(["oncall"]) == "responder"
    assert sso.role_for(["/ops/a=b"]) == "responder"  # the last "=" splits
    assert sso.role_for([]) == "viewer"  # "*": every SSO user


@pytest.mark.parametrize("raw", ["sre-admins", "=admin", "sre-admins=superuser"])
def test_a_bad_role_map_entry_is_refused(raw):
    with pytest.raises(ImproperlyConfigured, match="OIDC_ROLE_MAP"):
        parse_role_map(raw)


def test_a_bad_create_users_value_is_refused():
    with pytest.raises(ImproperlyConfigured, match="OIDC_CREATE_USERS"):
        from_env({**BASE, "OIDC_CREATE_USERS": "maybe"})


def test_groups_come_from_a_list_a_single_string_or_a_dotted_path():
    claims = {
        "groups": ["a", "b", 3, None],
        "hd": "example.com",
        "realm_access": {"roles": ["oncall"]},
        "https://example.com/groups": ["namespaced"],
    }
    assert groups_of(claims, "groups") == {"a", "b"}
    assert groups_of(claims, "hd") == {"example.com"}
    assert groups_of(claims, "realm_access.roles") == {"oncall"}
    assert groups_of(claims, "https://example.com/groups") == {"namespaced"}
    assert groups_of(claims, "missing") == set() and groups_of({"groups": {"x": 1}}, "groups") == set()
