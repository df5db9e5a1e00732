"""Sign-in with OpenID Connect against a local provider speaking the real protocol (tests/auth/oidc_provider.py):
the test client goes to /oidc/authenticate/, is redirected to the provider's /authorize, back to /oidc/callback/
with a code and the state; we exchange the code at /token and check the RS256 ID token against /jwks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model

from changetrack import roles
from changetrack.models import SSOIdentity
from tests.auth.conftest import follow, sign_in, sso_env, turn_sso_on
from tests.auth.oidc_provider import new_key

PASSWORD = "correct horse battery staple"


def signed_in_user(client):
    return client.get("/").wsgi_request.user


def test_a_new_user_signs_in_through_the_provider_and_gets_the_role_of_its_groups(client, sso):
    sso.user = {"sub": "00u1", "preferred_username": "alice", "email": "alice@example.com", "groups": ["oncall"]}

    page = sign_in(client, sso, next_url="/alerts/")

    assert page.status_code == 200 and page.wsgi_request.path == "/alerts/"
    user = get_user_model().objects.get(sso_identity__subject="00u1")
    assert user.username == "alice" and user.email == "alice@example.com"
    assert roles.role_of(user) == roles.RESPONDER
    assert signed_in_user(client) == user
    assert not user.has_usable_password()
    assert sso.hits.count("/token") == 1 and "/jwks" in sso.hits


def test_each_sign_in_sets_the_role_from_the_groups_of_that_moment(client, sso):
    sso.user = {"sub": "00u2", "preferred_username": "bob", "groups": ["sre-admins", "oncall"]}
    sign_in(client, sso)
    bob = get_user_model().objects.get(username="bob")
    assert roles.role_of(bob) == roles.ADMIN  # the highest mapped role wins

    for groups, role in ((["engineering"], roles.VIEWER), (["oncall", "engineering"], roles.RESPONDER)):
        client.logout()
        sso.user["groups"] = groups
        sign_in(client, sso)
        assert roles.role_of(bob) == role
    assert get_user_model().objects.count() == 1


def test_a_user_in_no_mapped_group_signs_in_with_no_role(client, sso):
    sso.user = {"sub": "00u3", "preferred_username": "carol", "groups": ["sre-admins"]}
    sign_in(client, sso)
    client.logout()
    sso.user["groups"] = ["contractors"]

    sign_in(client, sso)

    carol = get_user_model().objects.get(username="carol")
    assert signed_in_user(client) == carol
    assert roles.role_of(carol) is None
    assert not carol.groups.filter(name__in=roles.ROLES).exists()


def test_a_wildcard_gives_every_sso_user_a_role(client, provider, settings, db):
    turn_sso_on(settings, sso_env(provider, OIDC_ROLE_MAP="sre-admins=admin,*=viewer"))
    provider.user = {"sub": "00u4", "email": "dan@example.com"}  # no groups claim at all, no preferred_username

    sign_in(client, provider)

    dan = get_user_model().objects.get(sso_identity__subject="00u4")
    assert dan.username == "dan@example.com" and roles.role_of(dan) == roles.VIEWER


def test_groups_given_only_by_the_userinfo_endpoint_count(client, sso):
    sso.user = {"sub": "00u5", "preferred_username": "erin", "groups": ["sre-admins"]}
    sso.groups_in_userinfo_only = True

    sign_in(client, sso)

    assert roles.role_of(get_user_model().objects.get(username="erin")) == roles.ADMIN
    assert "/userinfo" in sso.hits


def test_a_changed_email_keeps_the_user_and_a_reused_email_takes_over_no_one(client, sso):
    sso.user = {"sub": "00u6", "preferred_username": "frank", "email": "frank@example.com", "groups": ["oncall"]}
    sign_in(client, sso)
    frank = get_user_model().objects.get(username="frank")
    client.logout()

    sso.user = {**sso.user, "email": "frank.new@example.com", "preferred_username": "frank.new"}
    sign_in(client, sso)
    frank.refresh_from_db()
    assert signed_in_user(client) == frank and frank.email == "frank.new@example.com"
    assert frank.username == "frank"  # the username stays what it was at creation
    client.logout()

    # another person at the provider is given frank's old address and name: a new user, not frank's account
    sso.user = {"sub": "00u7", "preferred_username": "frank", "email": "frank@example.com", "groups": []}
    sign_in(client, sso)
    other = signed_in_user(client)
    assert other != frank and other.username.startswith("frank-") and roles.role_of(other) is None
    assert SSOIdentity.objects.count() == 2


def test_a_provider_username_that_names_a_local_account_does_not_sign_in_as_it(client, sso, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", password=PASSWORD)
    sso.user = {"sub": "00u8", "preferred_username": "admin", "groups": ["engineering"]}

    sign_in(client, sso)

    user = signed_in_user(client)
    assert user != admin and user.username.startswith("admin-") and not user.is_superuser
    assert roles.role_of(user) == roles.VIEWER


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(client, sso):
    sso.user = {"sub": "00u9", "preferred_username": "mallory", "groups": ["sre-admins"]}
    sso.signing_key = new_key()  # same kid as the published key, another key

    page = sign_in(client, sso)

    assert page.status_code == 400 and b"Sign-in with SSO failed" in page.content
    assert not signed_in_user(client).is_authenticated
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_token_naming_an_unknown_key_is_refused(client, sso):
    sso.signing_key, sso.signing_kid = new_key(), "attacker-key"

    assert sign_in(client, sso).status_code == 400
    assert not signed_in_user(client).is_authenticated


def test_a_token_with_another_nonce_is_refused(client, sso):
    sso.nonce_override = "a-nonce-from-another-sign-in"

    assert sign_in(client, sso).status_code == 400
    assert not signed_in_user(client).is_authenticated
    assert get_user_model().objects.count() == 0


def test_a_token_issued_to_another_client_is_refused(client, sso):
    sso.audience_override = "some-other-app"

    assert sign_in(client, sso).status_code == 400
    assert not signed_in_user(client).is_authenticated


def test_a_callback_with_another_state_is_refused(client, sso):
    back = follow(client, client.get("/oidc/authenticate/"), sso, stop_at_callback=True)
    parts = urlsplit(back.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    page = client.get(f"{parts.path}?{urlencode({**query, 'state': 'forged-state'})}")

    assert page.status_code == 400
    assert not signed_in_user(client).is_authenticated
    assert "/token" not in sso.hits  # the code was never exchanged


def test_a_callback_replayed_in_a_session_that_never_started_a_sign_in_is_refused(client, sso):
    back = follow(client, client.get("/oidc/authenticate/"), sso, stop_at_callback=True)
    parts = urlsplit(back.headers["Location"])
    client.cookies.clear()  # the victim's browser: the attacker's code and state, none of the session

    page = client.get(f"{parts.path}?{parts.query}")

    assert page.status_code == 403 and b"Sign-in with SSO failed" in page.content
    assert not signed_in_user(client).is_authenticated


def test_the_provider_saying_no_shows_the_login_page_with_a_403(client, sso):
    page = client.get("/oidc/callback/", {"error": "access_denied", "state": "x"})

    assert page.status_code == 403 and b"Sign-in with SSO failed" in page.content


def test_with_user_creation_off_only_known_subjects_sign_in(client, provider, settings, db):
    turn_sso_on(settings, sso_env(provider))
    provider.user = {"sub": "00u10", "preferred_username": "gina", "groups": ["oncall"]}
    sign_in(client, provider)
    client.logout()
    turn_sso_on(settings, sso_env(provider, OIDC_CREATE_USERS="false"))

    assert sign_in(client, provider).status_code == 200  # gina has signed in before
    client.logout()
    provider.user = {"sub": "00u11", "preferred_username": "hank", "groups": ["oncall"]}
    assert sign_in(client, provider).status_code == 403
    assert not get_user_model().objects.filter(username="hank").exists()


def test_a_deactivated_user_cannot_sign_in_with_sso(client, sso):
    sso.user = {"sub": "00u12", "preferred_username": "ivan", "groups": ["oncall"]}
    sign_in(client, sso)
    client.logout()
    get_user_model().objects.filter(username="ivan").update(is_active=False)

    assert sign_in(client, sso).status_code == 403
    assert not signed_in_user(client).is_authenticated


def test_the_discovery_document_is_fetched_once_per_process(client, sso):
    for sub in ("00u13", "00u14"):
        sso.user = {"sub": sub, "groups": []}
        sign_in(client, sso)
        client.logout()

    assert sso.hits.count("/.well-known/openid-configuration") == 1


def test_the_login_page_offers_sso_and_the_local_login_still_works(client, sso, django_user_model):
    django_user_model.objects.create_user("breakglass", password=PASSWORD)

    page = client.get("/login/?next=/alerts/")
    assert b"Sign in with SSO" in page.content and b'id="id_password"' in page.content

    response = client.post("/login/", {"username": "breakglass", "password": PASSWORD, "next": "/alerts/"})
    assert response.status_code == 302 and response.headers["Location"] == "/alerts/"
    assert signed_in_user(client).username == "breakglass"


def test_an_unreachable_provider_answers_502_and_leaves_the_password_login_working(
    client, settings, db, django_user_model
):
    turn_sso_on(settings, {**sso_env_for("http://127.0.0.1:9"), "OIDC_ROLE_MAP": ""})
    django_user_model.objects.create_user("breakglass", password=PASSWORD)

    page = client.get("/oidc/authenticate/")
    assert page.status_code == 502 and b"could not be reached" in page.content

    assert client.post("/login/", {"username": "breakglass", "password": PASSWORD}).status_code == 302
    assert signed_in_user(client).username == "breakglass"


def sso_env_for(issuer: str) -> dict[str, str]:
    return {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "changetrack", "OIDC_CLIENT_SECRET": "x"}


@pytest.mark.django_db
def test_with_sso_off_there_is_no_button_and_the_oidc_urls_are_404(client, settings):
    settings.SSO = None

    assert b"Sign in with SSO" not in client.get("/login/").content
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "c", "state": "s"}).status_code == 404


def test_a_next_address_on_another_site_is_not_followed_after_sign_in(client, sso):
    sso.user = {"sub": "00u15", "groups": ["engineering"]}

    start = client.get("/oidc/authenticate/", {"next": "https://evil.example.com/phish"})
    page = follow(client, start, sso)

    assert page.status_code == 200 and page.wsgi_request.path == "/"
    assert signed_in_user(client).is_authenticated


def test_claims_a_column_cannot_hold_are_refused_or_trimmed_never_a_500(client, sso):
    sso.user = {"sub": "x" * 256, "groups": ["oncall"]}
    assert sign_in(client, sso).status_code == 403

    sso.user = {
        "sub": "00u16",
        "preferred_username": "jo\x00e",
        "email": "jo\x00e@example.com",
        "given_name": "J" * 400,
        "groups": ["engineering"],
    }
    assert sign_in(client, sso).status_code == 200
    user = signed_in_user(client)
    assert user.username == "jo_e" and user.email == "joe@example.com" and user.first_name == "J" * 150
