"""Every URL the project routes, tried as anonymous, a logged-in user with no role, a viewer, a responder and an
admin (and, for the API, with tokens of each scope): each answers as the table below decides.

The URLs are enumerated from ``get_resolver()`` recursively, so a URL added without a line in ``WEB``, ``API`` or
``ADMIN_RULES`` fails ``test_every_url_has_a_decision``; a line whose URL is gone fails too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from changetrack import roles
from changetrack.models import Alert, ApiToken, Change, Incident, RoutingRule, Service

pytestmark = pytest.mark.django_db

NOROLE = "norole"
PEOPLE = (None, NOROLE, roles.VIEWER, roles.RESPONDER, roles.ADMIN)  # None: anonymous
RANK = {NOROLE: 0, roles.VIEWER: 1, roles.RESPONDER: 2, roles.ADMIN: 3}
PUBLIC = "public"  # anyone, logged in or not: never a 5xx, never a login redirect

#: pages and forms: method -> the lowest role allowed (PUBLIC: anyone)
WEB: dict[str, dict[str, str]] = {
    "web:login": {"GET": PUBLIC, "POST": PUBLIC},
    "web:logout": {"POST": PUBLIC},
    "web:services": {"GET": roles.VIEWER},
    "web:service": {"GET": roles.VIEWER},
    "web:service_timeline": {"GET": roles.VIEWER},
    "web:service_events": {"GET": roles.VIEWER},
    "web:service_suspects": {"GET": roles.VIEWER},
    "web:feed": {"GET": roles.VIEWER},
    "web:change": {"GET": roles.VIEWER},
    "web:alerts": {"GET": roles.VIEWER},
    "web:alert": {"GET": roles.VIEWER},
    "web:alert_timeline": {"GET": roles.VIEWER},
    "web:alert_feedback": {"GET": roles.RESPONDER, "POST": roles.RESPONDER},
    "web:incident": {"GET": roles.VIEWER},
    "web:integrations": {"GET": roles.VIEWER},
    "web:connection_new": {"GET": roles.ADMIN, "POST": roles.ADMIN},
    "web:connection": {"GET": roles.VIEWER},
    "web:connection_replay": {"GET": roles.RESPONDER, "POST": roles.RESPONDER},
    "web:delivery": {"GET": roles.VIEWER},
    "web:unmapped": {"GET": roles.VIEWER},
    "web:unmapped_map": {"GET": roles.RESPONDER, "POST": roles.RESPONDER},
    "web:live": {"GET": roles.VIEWER},
    "web:map": {"GET": roles.VIEWER},
    "web:map_graph": {"GET": roles.VIEWER},
    "web:search": {"GET": roles.VIEWER},
    "web:audit": {"GET": roles.ADMIN},
    "web:preference_times": {"GET": roles.VIEWER, "POST": roles.VIEWER},
    "web:routing": {"GET": roles.VIEWER, "POST": roles.ADMIN},
    "web:routing_delete": {"GET": roles.ADMIN, "POST": roles.ADMIN},
    "api-docs": {"GET": roles.VIEWER},
    # signed by the sender, not logged in: the receiver's own checks answer
    "webhook": {"GET": PUBLIC, "POST": PUBLIC},
    "slack_interactivity": {"GET": PUBLIC, "POST": PUBLIC},
    "webhook_subpath": {"GET": PUBLIC, "POST": PUBLIC},
    "healthz": {"GET": PUBLIC},
    "readyz": {"GET": PUBLIC},
    "metrics": {"GET": PUBLIC},  # METRICS_PUBLIC's default; tests/web/test_posture.py covers the token
}
#: the API: method -> the token scope it needs (sessions do not authenticate it, except the schema's reader)
API: dict[str, dict[str, str]] = {
    "api-schema": {"GET": "read"},
    "api-services": {"GET": "read"},
    "api-service": {"GET": "read"},
    "api-service-timeline": {"GET": "read"},
    "api-service-suspects": {"GET": "read"},
    "api-changes": {"GET": "read", "POST": "write"},
    "api-change": {"GET": "read"},
    "api-alerts": {"GET": "read", "POST": "write"},
    "api-alert": {"GET": "read"},
    "api-alert-suspects": {"GET": "read"},
    "api-alert-feedback": {"POST": "write"},
    "api-dependencies": {"POST": "write"},
    "api-metrics-delivery": {"GET": "read"},
    "api-grafana-annotations": {"GET": "read"},
    "<unnamed api/v1/^[\\s\\S]*$>": {"GET": PUBLIC},  # any other path under /api/v1/: a 404 problem for anyone
}
#: the admin site (Django checks model permissions there): name pattern -> who may use it
STAFF, NOBODY, SUPERUSER = "staff", "nobody", "superuser"
ADMIN_RULES: list[tuple[str, str]] = [
    (r"admin:(login|logout)", PUBLIC),
    (r"admin:changetrack_auditentry_(add|delete)", NOBODY),  # append-only (its change page only shows an entry)
    (r"admin:changetrack_apitoken_add", NOBODY),  # tokens come from create_api_token (printed once)
    (r"admin:auth_.*", SUPERUSER),  # accounts and groups: create_user, SSO or a superuser
    (r"admin:changetrack_\w+_(changelist|add|change|delete|history)", STAFF),
    (r"admin:(index|app_list|jsi18n|autocomplete|view_on_site|password_change|password_change_done)", STAFF),
    (r"<unnamed admin/[a-z]+/[a-z]+/<path:object_id>/>", PUBLIC),  # a redirect to the change page, which checks
    (r"<unnamed admin/\(\?P<url>\.\*\)\$>", STAFF),  # the admin's catch-all (404 for staff)
]


def urls() -> Iterator[tuple[str, str]]:
    """(name, route) for every routed URL; an unnamed one is named ``<unnamed route>``."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = ":".join(filter(None, (namespace, p.namespace)))
                yield from walk(p.url_patterns, prefix + str(p.pattern), inner)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                name = ":".join(filter(None, (namespace, p.name))) if p.name else f"<unnamed {route}>"
                yield name, route

    yield from walk(get_resolver().url_patterns, "", "")


def is_admin(name: str) -> bool:
    return name.startswith(("admin:", "<unnamed admin/"))


def admin_rule(name: str) -> str | None:
    return next((who for pattern, who in ADMIN_RULES if re.fullmatch(pattern, name)), None)


def test_every_url_has_a_decision():
    names = [name for name, _ in urls()]
    undecided = [n for n in names if n not in WEB and n not in API and not (is_admin(n) and admin_rule(n))]
    assert not undecided, f"add these URLs to the role matrix: {undecided}"
    stale = sorted((set(WEB) | set(API)) - set(names))
    assert not stale, f"these URLs are gone, remove them from the matrix: {stale}"


@pytest.fixture
def world(db, connection_factory):
    from django.core.management import call_command

    call_command("load_demo", verbosity=0)
    conn = connection_factory("generic")
    rule = RoutingRule.objects.create(connection=conn, channel="#oncall")
    return {
        "routing": rule.pk,
        "service": Service.objects.order_by("pk").first().pk,
        "change": Change.objects.order_by("pk").first().pk,
        "alert": Alert.objects.filter(service__isnull=False).order_by("pk").first().pk,
        "incident": Incident.objects.order_by("pk").first().pk,
        "connection": conn.pk,
        "content_type_id": ContentType.objects.get_for_model(Service).pk,
    }


def path_of(name: str, world: dict[str, Any]) -> str:
    if name.startswith("<unnamed api/"):
        return "/api/v1/no-such-thing"
    if name.startswith("<unnamed admin/"):
        return "/" + re.sub(r"<path:object_id>", "1", name.removeprefix("<unnamed ")[:-1]).replace(
            "(?P<url>.*)$", "nothing/"
        )
    resolver_name = name
    pattern = dict(urls())[name]
    kwargs: dict[str, Any] = {}
    for arg in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", pattern):
        key = arg[0] or arg[1]
        if key == "pk":
            thing = next(t for t in ("connection", "incident", "alert", "change", "service", "routing") if t in name)
            kwargs[key] = world[thing]
        elif key == "connection_id":
            kwargs[key] = world["connection"]
        elif key == "slug":
            kwargs[key] = "generic"
        elif key == "subpath":
            kwargs[key] = "v2/change/enqueue"
        elif key == "app_label":
            kwargs[key] = "changetrack"
        elif key == "content_type_id":
            kwargs[key] = world["content_type_id"]
        else:  # an admin object id: a stored object of the page's model, so the page shows it (or refuses to)
            kwargs[key] = admin_object_id(name)
    path = reverse(resolver_name, kwargs=kwargs)
    if name == "admin:autocomplete":
        path += "?app_label=changetrack&model_name=servicealias&field_name=service"
    return path


def admin_object_id(name: str) -> str:
    found = re.match(r"admin:(auth|changetrack)_([a-z]+)_", name)
    if found is None:
        return "1"
    model = apps.get_model(found[1], found[2])
    first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return str(first if first is not None else 1)


def client_for(who: str | None, django_user_model) -> Client:
    browser = Client()
    if who is not None:
        person = django_user_model.objects.create_user(f"{who}-{django_user_model.objects.count()}")
        if who != NOROLE:
            roles.set_role(person, who)
        browser.force_login(person)
    return browser


def call(browser: Client, method: str, path: str, **headers: str):
    return browser.get(path, **headers) if method == "GET" else browser.post(path, {}, **headers)


def allowed(response) -> bool:
    return (
        response.status_code < 500
        and response.status_code not in (401, 403)
        and "/login/" not in response.get("Location", "")
    )


def test_each_page_and_form_answers_each_role_as_decided(world, django_user_model):
    wrong = []
    clients = {who: client_for(who, django_user_model) for who in PEOPLE}
    for name, methods in WEB.items():
        path = path_of(name, world)
        for method, lowest in methods.items():
            for who in PEOPLE:
                browser = client_for(who, django_user_model) if name == "web:logout" else clients[who]
                response = call(browser, method, path)
                if lowest == PUBLIC:
                    ok = response.status_code < 500 and not response.get("Location", "").startswith("/login/?next")
                elif who is None:
                    ok = response.status_code == 302 and response["Location"].startswith("/login/?next=")
                elif RANK[who] < RANK[lowest]:
                    ok = response.status_code == 403 and b"Not allowed" in response.content
                else:
                    ok = allowed(response)
                if not ok:
                    wrong.append((name, method, who, response.status_code, response.get("Location")))
    assert not wrong, wrong


def test_each_admin_page_answers_each_role_as_decided(world, django_user_model):
    wrong = []
    clients = {who: client_for(who, django_user_model) for who in PEOPLE}
    for name, _ in urls():
        if not is_admin(name):
            continue
        rule = admin_rule(name)
        path = path_of(name, world)
        for who in PEOPLE:
            if name == "admin:logout":
                continue  # POST only, and it would end the shared session: the login page is its public half
            response = clients[who].get(path)
            to_login = response.status_code == 302 and response["Location"].startswith("/admin/login/")
            if rule == PUBLIC:
                ok = response.status_code < 500
            elif who in (None, NOROLE, roles.VIEWER, roles.RESPONDER):  # not staff
                ok = to_login
            elif rule == STAFF:
                ok = allowed(response) and not to_login
            else:  # NOBODY or SUPERUSER: the admin role is refused
                ok = response.status_code == 403
            if not ok:
                wrong.append((name, who, response.status_code, response.get("Location")))
    assert not wrong, wrong


def test_each_api_call_answers_each_token_scope_and_no_session_as_decided(world, django_user_model, redis_client):
    tokens = {scope: ApiToken.issue(scope, [scope])[1] for scope in ("read", "write", "admin")}
    admin_session = client_for(roles.ADMIN, django_user_model)
    wrong = []
    for name, methods in API.items():
        path = path_of(name, world)
        for method, scope in methods.items():
            anonymous = call(Client(), method, path)
            if scope != PUBLIC and anonymous.status_code != 401:
                wrong.append((name, method, "anonymous", anonymous.status_code))
            session = call(admin_session, method, path)
            if scope != PUBLIC and name != "api-schema" and session.status_code != 401:
                wrong.append((name, method, "admin's session", session.status_code))
            for held, token in tokens.items():
                response = call(Client(), method, path, HTTP_AUTHORIZATION=f"Bearer {token}")
                may = scope == PUBLIC or held in (scope, "admin")
                ok = allowed(response) if may else response.status_code == 403
                if response.status_code >= 500 or not ok:
                    wrong.append((name, method, held, response.status_code))
    assert not wrong, wrong
