"""Demo data that tells a real story (idempotent; ``--reset`` reloads it relative to now).

Two clusters, a dozen services with dependencies, a day of deploys, config and flag changes, CI runs and
commits, and the classic incident: ``rest-api`` deployed with replicas cut from 50 to 5, and ten minutes later
a Datadog alert on ``data-processor`` (which calls ``rest-api``), while data-processor's own deploy was ten
hours earlier. Five hours before it, an incident already resolved: a feature flag turned on for ``checkout``,
crash-looping pods, alerts on ``checkout`` and on ``frontend`` (which calls it) grouped into one incident, the
flag turned off, the alerts resolved and the flag confirmed as the cause.

Every record is in the shape its source's integration stores (source names, ``details``, ``links``, alert URLs):
the Datadog alert carries its event link and monitor id, the Alertmanager alerts their ``generatorURL`` and external
URL, Jenkins builds their build URL, LaunchDarkly flags their flag page, Argo CD syncs their application page, GitHub
pushes their commits. The demo's connections (one per source) are created too, so ``/integrations/`` lists them;
their secrets are generated and discarded, so nothing can deliver to them.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from changetrack import audit
from changetrack.connections import create_connection
from changetrack.correlation import engine, feedback
from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Cluster, Connection, Dependency, HealthEpisode, Incident, Service
from integrations.base import AlertRecord, ChangeRecord, Record, ServiceHint

DEMO = "demo-"  # every demo record's external id starts with it
#: the sources the demo's records came from: (integration slug, connection name)
CONNECTIONS = [
    ("datadog", "Datadog (demo)"),
    ("alertmanager", "Alertmanager prod-us (demo)"),
    ("github", "GitHub acme (demo)"),
    ("jenkins", "Jenkins (demo)"),
    ("launchdarkly", "LaunchDarkly (demo)"),
    ("argocd", "Argo CD (demo)"),
]
DATADOG = "https://app.datadoghq.com"
JENKINS = "https://jenkins.acme.example.com"
ARGOCD = "https://argocd.acme.example.com"
ALERTMANAGER = "https://alertmanager.prod-us.acme.example.com"
PROMETHEUS = "https://prometheus.prod-us.acme.example.com"
# (cluster, namespace, name, team, repository)
SERVICES = [
    ("prod-us", "shop", "frontend", "web", "acme/frontend"),
    ("prod-us", "shop", "checkout", "payments", "acme/checkout"),
    ("prod-us", "shop", "cart", "payments", "acme/cart"),
    ("prod-us", "shop", "catalog", "catalog", "acme/catalog"),
    ("prod-us", "shop", "rest-api", "platform", "acme/rest-api"),
    ("prod-us", "shop", "data-processor", "data", "acme/data-processor"),
    ("prod-us", "shop", "payments", "payments", "acme/payments"),
    ("prod-us", "platform", "auth", "platform", "acme/auth"),
    ("prod-us", "platform", "notifications", "platform", "acme/notifications"),
    ("prod-us", "data", "search", "catalog", "acme/search"),
    ("prod-eu", "shop", "frontend", "web", "acme/frontend"),
    ("prod-eu", "shop", "rest-api", "platform", "acme/rest-api"),
]
# service depends on depends_on, with evidence
EDGES = [
    ("frontend", "checkout", "kubernetes", "env var CHECKOUT_URL"),
    ("frontend", "catalog", "kubernetes", "env var CATALOG_URL"),
    ("frontend", "auth", "kubernetes", "env var AUTH_URL"),
    ("checkout", "cart", "kubernetes", "env var CART_URL"),
    ("checkout", "payments", "declared", "declared via API"),
    ("checkout", "rest-api", "kubernetes", "env var REST_API_URL"),
    ("data-processor", "rest-api", "kubernetes", "env var REST_API_URL"),
    ("rest-api", "auth", "kubernetes", "ConfigMap rest-api-config key AUTH_HOST"),
    ("catalog", "search", "kubernetes", "env var SEARCH_URL"),
    ("payments", "notifications", "declared", "declared via API"),
]


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a fake commit id, not security


def _earlier_start(now: datetime) -> datetime:
    """When the earlier (already resolved) incident's flag was turned on."""
    return now - timedelta(hours=5, minutes=10)


CHECKOUT = ServiceHint(name="checkout", namespace="shop", cluster="prod-us")
FRONTEND = ServiceHint(name="frontend", namespace="shop", cluster="prod-us")
FLAG_ON = "demo-flag-checkout-new-payment-flow-on"


class Command(BaseCommand):
    help = "Load the demo story (two clusters, ~12 services, a day of changes, one incident)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--reset", action="store_true", help="delete the demo data and load it again")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if opts["reset"]:
            self._reset()
        elif Alert.objects.filter(external_id__startswith=DEMO).exists():
            self.stdout.write("Demo data already loaded (use --reset to reload it relative to now).")
            return
        now = timezone.now().replace(second=0, microsecond=0)
        self._connections()
        services = self._services()
        records = [*self._background(now, services), *self._earlier_incident(now), *self._incident(now)]
        result = store_records(records, update_existing=False)
        store_records(self._earlier_recovery(now))  # the resolutions: a second delivery, as in real life
        self._earlier_health(now)
        alert_ids = [aid for aid, _ in result.alerts]
        for alert_id in alert_ids:
            engine.rank_and_store(alert_id)
        self._earlier_feedback()
        self.stdout.write(
            f"Demo loaded: {len(services)} services, {len(result.changes)} changes, {len(alert_ids)} alerts."
        )

    def _reset(self) -> None:
        with transaction.atomic():
            Incident.objects.filter(alerts__external_id__startswith=DEMO).delete()
            Alert.objects.filter(external_id__startswith=DEMO).delete()
            # source "demo": what an older version of this command wrote
            HealthEpisode.objects.filter(Q(source="kubernetes", details__demo=True) | Q(source="demo")).delete()
            Change.objects.filter(external_id__startswith=DEMO).delete()
            Dependency.objects.filter(service__cluster__name__in=["prod-us", "prod-eu"]).delete()

    def _connections(self) -> None:
        """One connection per source the demo's records came from (kept on --reset: they hold no demo data)."""
        with audit.as_command("load_demo"):
            for slug, name in CONNECTIONS:
                if not Connection.objects.filter(integration=slug, name=name).exists():
                    create_connection(slug, name, {})  # generated secrets are dropped: nothing can deliver here

    def _services(self) -> list[Service]:
        out = []
        Cluster.objects.get_or_create(name="prod-us", defaults={"env": "prod,production"})
        Cluster.objects.get_or_create(name="prod-eu", defaults={"env": "prod-eu"})
        for cluster, ns, name, team, repo in SERVICES:
            svc, _ = Service.objects.update_or_create(
                cluster=Cluster.objects.get(name=cluster),
                namespace=ns,
                name=name,
                defaults={
                    "team": team,
                    "repository": repo,
                    "workload_kind": "Deployment",
                    "labels": {"app.kubernetes.io/name": name, "team": team},
                },
            )
            out.append(svc)
        by_name = {(s.cluster.name, s.name): s for s in out if s.cluster}
        for src, dst, prov, evidence in EDGES:
            Dependency.objects.update_or_create(
                service=by_name[("prod-us", src)],
                depends_on=by_name[("prod-us", dst)],
                provenance=prov,
                defaults={"evidence": evidence, "confidence": 1.0 if prov == "declared" else 0.9},
            )
        return out

    def _background(self, now: datetime, services: list[Service]) -> list[ChangeRecord]:
        rng = random.Random(42)
        people = ["dana.kim@example.com", "maya.ortiz@example.com", "lee.chen@example.com", "sam.patel@example.com"]
        out: list[ChangeRecord] = []
        for i in range(60):
            svc = rng.choice(services)
            if svc.name in ("rest-api", "data-processor") and svc.cluster and svc.cluster.name == "prod-us":
                continue  # their story is told in _incident
            at = now - timedelta(minutes=rng.randint(90, 24 * 60))
            if svc.name in ("checkout", "frontend") and abs(at - _earlier_start(now)) < timedelta(hours=2):
                continue  # the flag's story (_earlier_incident) is the only thing happening to them then
            hint = ServiceHint(name=svc.name, namespace=svc.namespace, cluster=svc.cluster.name if svc.cluster else "")
            sha = _sha(f"{svc.pk}-{i}")
            kind = rng.choice(["deploy", "deploy", "config", "feature_flag", "ci", "commit", "autoscale", "scale"])
            out.append(self._change(kind, i, at, svc, hint, sha, rng.choice(people), rng))
        out += self._deploy_and_rollback(now)
        return out

    def _deploy_and_rollback(self, now: datetime) -> list[ChangeRecord]:
        """Overnight: search 4.1.0 rolled out by Argo CD, then rolled back by hand twenty minutes later."""
        search = ServiceHint(name="search", namespace="data", cluster="prod-us")
        catalog = ServiceHint(name="catalog", namespace="shop", cluster="prod-us")
        at = now - timedelta(hours=14)
        image = "spec.template.spec.containers[search].image"
        old, new = "ghcr.io/acme/search:4.0.3", "ghcr.io/acme/search:4.1.0"
        return [
            _argocd(
                "catalog-prod",
                "acme/catalog",
                _sha("catalog-argocd"),
                "argocd-bot",
                external_id="demo-catalog-argocd",
                kind="deploy",
                occurred_at=at - timedelta(hours=1),
                service=catalog,
            ),
            ChangeRecord(
                source="kubernetes",
                external_id="demo-search-deploy",
                kind="deploy",
                occurred_at=at,
                ended_at=at + timedelta(minutes=3),
                summary="Deploy search 4.1.0",
                service=search,
                actor="maya.ortiz@example.com",
                status="succeeded",
                diff=({"path": image, "before": old, "after": new},),
                commit_sha=_sha("search-4.1.0"),
                repository="acme/search",
            ),
            ChangeRecord(
                source="kubernetes",
                external_id="demo-search-rollback",
                kind="rollback",
                occurred_at=at + timedelta(minutes=20),
                ended_at=at + timedelta(minutes=22),
                summary="Rollback search to 4.0.3 (kubectl rollout undo)",
                service=search,
                actor="maya.ortiz@example.com",
                status="succeeded",
                diff=({"path": image, "before": new, "after": old},),
            ),
        ]

    def _change(
        self, kind: str, i: int, at: datetime, svc: Service, hint: ServiceHint, sha: str, who: str, rng: random.Random
    ) -> ChangeRecord:
        base: dict[str, Any] = {"external_id": f"demo-{kind}-{i}", "occurred_at": at, "service": hint, "kind": kind}
        if kind == "deploy":
            old, new = f"1.{i}.0", f"1.{i}.1"
            return ChangeRecord(
                source="kubernetes",
                summary=f"Deploy {svc.name} {new}",
                actor=who,
                status="succeeded",
                diff=(
                    {
                        "path": "spec.template.spec.containers[app].image",
                        "before": f"ghcr.io/acme/{svc.name}:{old}",
                        "after": f"ghcr.io/acme/{svc.name}:{new}",
                    },
                ),
                commit_sha=sha,
                repository=svc.repository,
                ended_at=at + timedelta(minutes=3),
                **base,
            )
        if kind == "config":
            return ChangeRecord(
                source="kubernetes",
                summary=f"ConfigMap {svc.name}-config changed",
                actor="helm",
                diff=({"path": "data.LOG_LEVEL", "before": "info", "after": "debug"},),
                **base,
            )
        if kind == "feature_flag":
            return _flag(f"{svc.name}-new-ui", who, on=True, **base)
        if kind == "ci":
            return _jenkins(f"{svc.name}-build", 100 + i, sha, svc.repository, who, **base)
        if kind == "commit":
            message = f"Merge pull request #{400 + i} from acme/{svc.name}-fixes"
            return _push(svc.repository, sha, message, who, **base)
        if kind == "autoscale":
            n = rng.randint(3, 8)
            return ChangeRecord(
                source="kubernetes",
                summary=f"HPA scaled {svc.name} {n} → {n + 1}",
                actor="horizontal-pod-autoscaler",
                diff=({"path": "spec.replicas", "before": n, "after": n + 1},),
                **base,
            )
        return ChangeRecord(
            source="kubernetes",
            summary=f"Scaled {svc.name} 4 → 6",
            actor=who,
            diff=({"path": "spec.replicas", "before": 4, "after": 6},),
            **base,
        )

    def _incident(self, now: datetime) -> list[Record]:
        rest = ServiceHint(name="rest-api", namespace="shop", cluster="prod-us")
        proc = ServiceHint(name="data-processor", namespace="shop", cluster="prod-us")
        sha = _sha("rest-api-2.14.0")
        deploy_at = now - timedelta(minutes=20)
        alert_at = now - timedelta(minutes=10)
        return [
            ChangeRecord(
                source="kubernetes",
                external_id="demo-dp-deploy",
                kind="deploy",
                occurred_at=now - timedelta(hours=10, minutes=10),
                summary="Deploy data-processor 3.2.0",
                service=proc,
                actor="lee.chen@example.com",
                status="succeeded",
                diff=(
                    {
                        "path": "spec.template.spec.containers[worker].image",
                        "before": "ghcr.io/acme/data-processor:3.1.4",
                        "after": "ghcr.io/acme/data-processor:3.2.0",
                    },
                ),
                commit_sha=_sha("dp-3.2.0"),
                repository="acme/data-processor",
            ),
            _push(
                "acme/rest-api",
                sha,
                "Reduce rest-api footprint (#512)",
                "sam.patel",
                external_id="demo-rest-commit",
                kind="commit",
                occurred_at=deploy_at - timedelta(minutes=25),
                service=rest,
            ),
            _jenkins(
                "rest-api-deploy",
                318,
                sha,
                "acme/rest-api",
                "sam.patel",
                external_id="demo-rest-ci",
                kind="ci",
                occurred_at=deploy_at - timedelta(minutes=15),
                service=rest,
            ),
            ChangeRecord(
                source="kubernetes",
                external_id="demo-rest-deploy",
                kind="deploy",
                occurred_at=deploy_at,
                ended_at=deploy_at + timedelta(minutes=2),
                summary="Deploy rest-api 2.14.0 (replicas 50 → 5)",
                service=rest,
                actor="sam.patel@example.com (kubectl)",
                status="succeeded",
                commit_sha=sha,
                repository="acme/rest-api",
                diff=(
                    {"path": "spec.replicas", "before": 50, "after": 5},
                    {
                        "path": "spec.template.spec.containers[api].image",
                        "before": "ghcr.io/acme/rest-api:2.13.2",
                        "after": "ghcr.io/acme/rest-api:2.14.0",
                    },
                ),
                details={"rollout": {"revision": 42, "status": "completed", "duration_seconds": 118}},
            ),
            ChangeRecord(
                source="kubernetes",
                external_id="demo-proc-autoscale",
                kind="autoscale",
                occurred_at=alert_at - timedelta(minutes=3),
                summary="HPA scaled data-processor 6 → 8",
                service=proc,
                actor="horizontal-pod-autoscaler",
                diff=({"path": "spec.replicas", "before": 6, "after": 8},),
            ),
            AlertRecord(  # what integrations/datadog stores from its webhook template
                source="datadog",
                external_id="demo-dd-cycle-1",
                title="data-processor error rate above 5%",
                status="triggered",
                occurred_at=alert_at,
                started_at=alert_at,
                service=proc,
                severity="critical",
                labels={"service": "data-processor", "env": "prod", "kube_namespace": "shop"},
                details={
                    "transition": "Triggered",
                    "monitor_id": "48213377",
                    "priority": "P1",
                    "alert_type": "error",
                    "scope": "env:prod,service:data-processor",
                    "status": "Error rate 7.9% > 5% on service:data-processor env:prod",
                    "aggreg_key": "5f3ab0e1c9d2",
                    "org": {"id": "1029384", "name": "Acme"},
                },
                links=({"href": f"{DATADOG}/event/event?id=7312054563517383947", "text": "Datadog event"},),
                url=f"{DATADOG}/event/event?id=7312054563517383947",
            ),
        ]

    def _earlier_incident(self, now: datetime) -> list[Record]:
        """A product manager turns on a flag for checkout; checkout and frontend alert minutes later."""
        on = _earlier_start(now)
        return [
            _flag(
                "new-payment-flow",
                "Priya Shah",
                on=True,
                external_id=FLAG_ON,
                kind="feature_flag",
                occurred_at=on,
                service=CHECKOUT,
            ),
            _flag(
                "new-payment-flow",
                "Dana Kim",
                on=False,
                external_id="demo-flag-checkout-new-payment-flow-off",
                kind="feature_flag",
                occurred_at=on + timedelta(minutes=28),
                service=CHECKOUT,
            ),
            self._earlier_alert("checkout-5xx", CHECKOUT, on + timedelta(minutes=6), "CheckoutHighErrorRate"),
            self._earlier_alert("frontend-5xx", FRONTEND, on + timedelta(minutes=8), "Frontend checkout page 5xx"),
        ]

    def _earlier_alert(
        self, key: str, service: ServiceHint, at: datetime, title: str, resolved: datetime | None = None
    ) -> AlertRecord:
        labels = {"alertname": title, "service": service.name, "namespace": service.namespace, "severity": "critical"}
        expr = quote_plus(f'sum(rate(http_requests_total{{service="{service.name}",code=~"5.."}}[5m])) > 1')
        generator = f"{PROMETHEUS}/graph?g0.expr={expr}&g0.tab=1"
        return AlertRecord(  # what integrations/alertmanager stores from a webhook group
            source="alertmanager",
            external_id=f"demo-am-{key}",
            title=title,
            status="resolved" if resolved else "triggered",
            occurred_at=resolved or at,
            started_at=at,
            service=service,
            severity="critical",
            labels=labels,
            details={
                "annotations": {"summary": title, "runbook_url": f"https://runbooks.acme.example.com/{key}"},
                "group_key": f'{{}}:{{alertname="{title}"}}',
                "receiver": "changetrack",
                "external_url": ALERTMANAGER,
                "truncated_alerts": 0,
            },
            links=({"href": generator, "text": "Prometheus"},),
            url=generator,
        )

    def _earlier_recovery(self, now: datetime) -> list[Record]:
        on = _earlier_start(now)
        return [
            self._earlier_alert(
                "checkout-5xx",
                CHECKOUT,
                on + timedelta(minutes=6),
                "CheckoutHighErrorRate",
                resolved=on + timedelta(minutes=31),
            ),
            self._earlier_alert(
                "frontend-5xx",
                FRONTEND,
                on + timedelta(minutes=8),
                "Frontend checkout page 5xx",
                resolved=on + timedelta(minutes=33),
            ),
        ]

    def _earlier_health(self, now: datetime) -> None:
        on = _earlier_start(now)
        checkout = Service.objects.get(cluster__name="prod-us", namespace="shop", name="checkout")
        HealthEpisode.objects.update_or_create(
            source="kubernetes",
            service=checkout,
            reason="CrashLoopBackOff",
            started_at=on + timedelta(minutes=4),
            defaults={
                "severity": "error",
                "summary": "3 checkout pods in CrashLoopBackOff (14 restarts)",
                "ended_at": on + timedelta(minutes=30),
                "last_seen_at": on + timedelta(minutes=30),
                "details": {
                    "pods": ["checkout-7d9f-abcde", "checkout-7d9f-fghij", "checkout-7d9f-klmno"],
                    "demo": True,
                },
            },
        )

    def _earlier_feedback(self) -> None:
        """The responder confirmed the flag as the cause of the checkout alert."""
        alert = Alert.objects.get(source="alertmanager", external_id="demo-am-checkout-5xx")
        flag = Change.objects.get(source="launchdarkly", external_id=FLAG_ON)
        feedback.record(alert, flag.pk, "caused", author="oncall")
        engine.rank_and_store(alert.pk)


def _push(repository: str, sha: str, message: str, who: str, **base: Any) -> ChangeRecord:
    """A push to main as integrations/github stores it: the commits with their URLs, a compare link."""
    web = f"https://github.com/{repository}"
    parent = _sha(f"{sha}-parent")
    commit = {
        "sha": sha,
        "message": message,
        "author": who.split("@")[0],
        "timestamp": base["occurred_at"].isoformat(),
        "url": f"{web}/commit/{sha}",
        "files": ["src/server.py", "deploy/values.yaml"],
    }
    details = {"branch": "main", "commit_count": 1, "forced": False, "commits": [commit], "shas": [sha]}
    return ChangeRecord(
        source="github",
        summary=f"{repository}@main: {message}",
        actor=who.split("@")[0],
        status="succeeded",
        details=details,
        links=({"title": "Compare on GitHub", "url": f"{web}/compare/{parent[:12]}...{sha[:12]}"},),
        commit_sha=sha,
        repository=repository,
        **base,
    )


def _jenkins(job: str, number: int, sha: str, repository: str, who: str, **base: Any) -> ChangeRecord:
    """A finished build as integrations/jenkins stores it from the Notification plugin."""
    return ChangeRecord(
        source="jenkins",
        summary=f"Jenkins {job} #{number}: succeeded ({sha[:7]} on main)",
        actor=who.split("@")[0],
        status="succeeded",
        ended_at=base["occurred_at"] + timedelta(minutes=4),
        details={
            "job": job,
            "number": number,
            "phase": "FINALIZED",
            "result": "SUCCESS",
            "branch": "main",
            "scm_url": f"git@github.com:{repository}.git",
            "duration_seconds": 240,
            "parameters": {"ENVIRONMENT": "prod"},
            "files": [],
        },
        links=({"title": f"Build #{number}", "url": f"{JENKINS}/job/{job}/{number}/"},),
        commit_sha=sha,
        repository=repository,
        **base,
    )


def _flag(key: str, who: str, *, on: bool, **base: Any) -> ChangeRecord:
    """A flag toggled in production, as integrations/launchdarkly stores an audit-log entry."""
    person = who.split("@")[0].replace(".", " ").title() if "@" in who else who
    verb = "turned on the flag" if on else "turned off the flag"
    return ChangeRecord(
        source="launchdarkly",
        summary=f"{person} {verb} {key} in production",
        actor=person,
        severity="warning",
        status="succeeded",
        diff=({"path": "environments.production.on", "before": not on, "after": on},),
        details={
            "flag": key,
            "flag_name": key.replace("-", " ").capitalize(),
            "project": "default",
            "environment": "production",
            "actions": ["updateOn"],
            "comment": "",
            "tags": [],
            "versions_included": True,
        },
        links=(
            {"title": "Flag in LaunchDarkly", "url": f"https://app.launchdarkly.com/default/production/features/{key}"},
        ),
        **base,
    )


def _argocd(app: str, repository: str, sha: str, who: str, **base: Any) -> ChangeRecord:
    """A finished sync as integrations/argocd stores an Argo CD notification."""
    return ChangeRecord(
        source="argocd",
        summary=f"Argo CD sync of {app} to {sha[:12]}: Succeeded, Healthy",
        actor=who,
        status="succeeded",
        ended_at=base["occurred_at"] + timedelta(minutes=1),
        details={
            "app": app,
            "project": "default",
            "revision": sha,
            "operation_phase": "Succeeded",
            "health": "Healthy",
            "sync_status": "Synced",
            "repo_url": f"https://github.com/{repository}.git",
            "message": "successfully synced (all tasks run)",
            "duration_seconds": 64,
        },
        links=({"title": "Application in Argo CD", "url": f"{ARGOCD}/applications/{app}"},),
        commit_sha=sha,
        repository=repository,
        **base,
    )
