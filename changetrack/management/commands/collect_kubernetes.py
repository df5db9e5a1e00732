"""``manage.py collect_kubernetes --context prod --context staging`` (or ``--in-cluster``): run collectors."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config
from kubernetes.config.config_exception import ConfigException

from changetrack.collect.kubernetes import ClusterConfig, Collector, Tuning
from changetrack.collect.runtime import CelerySink, DirectSink, build
from integrations.kubernetes.resources import RESOURCES

logger = logging.getLogger("changetrack.collect.kubernetes")


def _csv(values: list[str] | None) -> frozenset[str]:
    return frozenset(v.strip() for item in values or [] for v in item.split(",") if v.strip())


def _client(cfg: k8s.Configuration) -> k8s.ApiClient:
    cfg.connection_pool_maxsize = len(RESOURCES) + 4  # one long-lived watch per resource type, plus lists
    return k8s.ApiClient(cfg)


class Command(BaseCommand):
    help = "List and watch Kubernetes clusters; store changes, health episodes and dependency hints."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--context", action="append", help="kubeconfig context (repeat for several clusters)")
        parser.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG or ~/.kube/config)")
        parser.add_argument("--in-cluster", action="store_true", help="use the pod's ServiceAccount")
        parser.add_argument("--cluster-name", help="name to store for the in-cluster cluster (default: in-cluster)")
        parser.add_argument(
            "--service-account-dir",
            default=os.path.dirname(incluster_config.SERVICE_TOKEN_FILENAME),
            help="with --in-cluster: where the ServiceAccount token and ca.crt are mounted",
        )
        parser.add_argument("--include-namespace", action="append", help="only these namespaces (comma-separated)")
        parser.add_argument("--exclude-namespace", action="append", help="skip these namespaces (comma-separated)")
        parser.add_argument(
            "--namespaced-only",
            action="store_true",
            help="with --include-namespace: no cluster-scoped types (Nodes), for RBAC granted by Roles in those namespaces",
        )
        parser.add_argument("--no-celery", action="store_true", help="store batches in this process (debugging)")
        parser.add_argument("--watch-timeout", type=int, default=300)
        parser.add_argument(
            "--run-seconds", type=float, default=0, help="stop after this long (0: run until signalled)"
        )
        parser.add_argument(
            "--shutdown-seconds",
            type=float,
            default=10,
            help="on SIGTERM: how long to hand over what was read (and its checkpoint) before exiting",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        stop = {"now": False}

        def _stop(signum: int, frame: Any) -> None:
            stop["now"] = True

        # first thing: a SIGTERM during the start (loading what is stored, the first lists) is a stop, not a kill
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        include, exclude = _csv(opts["include_namespace"]), _csv(opts["exclude_namespace"])
        resources = RESOURCES
        if opts["namespaced_only"]:
            # without include namespaces every namespaced type is listed cluster-wide: a Role cannot grant that
            if not include:
                raise CommandError("--namespaced-only needs --include-namespace (the namespaces its Roles are in)")
            resources = tuple(rt for rt in RESOURCES if rt.namespaced)
        configs = [ClusterConfig(name, api, include, exclude, resources) for name, api in self._clients(opts)]
        sink = DirectSink() if opts["no_celery"] else CelerySink()
        collectors = [build(c, sink, Tuning(watch_timeout=opts["watch_timeout"])) for c in configs]
        for col in collectors:
            col.start()
            self.stdout.write(f"collecting {col.config.name} ({len(col.watchers)} watches)")
        deadline = time.monotonic() + opts["run_seconds"] if opts["run_seconds"] else None
        while not stop["now"] and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.5)
        self._drain(collectors, sink, opts["shutdown_seconds"])

    def _drain(self, collectors: list[Collector], sink: CelerySink | DirectSink, seconds: float) -> None:
        """Stop reading, then let the batchers hand over what they hold with its checkpoints, for up to
        ``seconds``: a restart resumes from there. Whatever is still unsent then is read again after the restart
        (its checkpoint was not saved either), so exiting is safe either way."""
        for col in collectors:
            col.stop()
        if isinstance(sink, CelerySink):
            sink.closing.set()
        deadline = time.monotonic() + seconds
        while any(c.queue.unfinished_tasks for c in collectors) and time.monotonic() < deadline:
            time.sleep(0.05)
        unsent = sum(c.queue.unfinished_tasks for c in collectors)
        log = logger.warning if unsent else logger.info
        log(
            "collect.kubernetes.stopped",
            extra={"clusters": [c.config.name for c in collectors], "unsent": unsent, "checkpoints_saved": not unsent},
        )

    def _clients(self, opts: dict[str, Any]) -> list[tuple[str, k8s.ApiClient]]:
        try:
            if opts["in_cluster"]:
                # the official in-cluster loader (KUBERNETES_SERVICE_HOST/PORT, token, CA; it re-reads a rotated
                # token), pointed at the mount directory
                cfg = k8s.Configuration()
                sa_dir = opts["service_account_dir"]
                incluster_config.InClusterConfigLoader(
                    token_filename=os.path.join(sa_dir, os.path.basename(incluster_config.SERVICE_TOKEN_FILENAME)),
                    cert_filename=os.path.join(sa_dir, os.path.basename(incluster_config.SERVICE_CERT_FILENAME)),
                ).load_and_set(cfg)
                return [(opts["cluster_name"] or "in-cluster", _client(cfg))]
            contexts = opts["context"] or []
            if not contexts:
                raise CommandError("give --context NAME (repeatable) or --in-cluster")
            out = []
            for ctx in contexts:
                cfg = k8s.Configuration()
                k8s_config.load_kube_config(config_file=opts["kubeconfig"], context=ctx, client_configuration=cfg)
                out.append((ctx, _client(cfg)))
            return out
        except ConfigException as exc:
            raise CommandError(f"kubernetes configuration: {exc}") from None
