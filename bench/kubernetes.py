"""Kubernetes collector benchmark against the fake API server (run in a separate process).

Figures, each next to a baseline measured in the same run:
- initial sync of N objects (5k workloads, 40k pods, 5k config/HPA/Service at full size) until every object is
  stored, vs the raw client paginated LIST of the same objects with no processing;
- a burst of R events/s for S seconds (ConfigMap data changes, each one a change row): events/s end to end
  (watch → row) and p99 watch → row latency, vs the raw client WATCH replay rate of the same events;
- collector peak RSS (this process: collector + Django, not the fake server or the Celery workers);
- a 150k-object paginated relist (limit=500) plus diff after a 410, vs the raw paginated LIST.

``python -m bench.kubernetes [--quick] [--workers N]``. Uses the worktree's embedded PostgreSQL/Redis, a
dedicated Celery queue and N worker processes; the bench cluster's rows are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "ct-bench-k8s"


# --- the fake API server process -----------------------------------------------------------------------------


def _server_main(conn: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.kubernetes import objects as o
    from tests.kubernetes.fakeapi import FakeCluster, serve

    cluster = FakeCluster(bookmark_interval=5.0)
    server = serve(cluster)
    conn.send(server.url)
    while True:
        cmd, arg = conn.recv()
        if cmd == "sync":
            workloads, pods_per, configs = arg
            objs: list[dict[str, Any]] = []
            for i in range(workloads):
                ns = f"ns-{i % 50}"
                d = o.deployment(
                    f"app-{i}",
                    namespace=ns,
                    env=[{"name": "PEER_URL", "value": f"http://app-{(i + 1) % workloads}:8080"}],
                )
                rs = o.replicaset(d, "7c9d8f6b5")
                objs += [d, *[o.pod(rs, f"p{j:03d}") for j in range(pods_per)]]
            for i in range(configs):
                ns = f"ns-{i % 50}"
                kind = i % 3
                objs.append(
                    o.configmap(f"cfg-{i}", {"k": "v"}, namespace=ns)
                    if kind == 0
                    else o.service(f"app-{i}", {"app": f"app-{i}"}, namespace=ns)
                    if kind == 1
                    else o.hpa(f"hpa-{i}", f"app-{i}", 2, 10, 3, namespace=ns)
                )
            objs += [o.configmap(f"burst-{i}", {"v": "0"}, namespace="burst") for i in range(1000)]
            cluster.load(objs)
            conn.send(len(objs))
        elif cmd == "burst":
            rate, seconds = arg
            start_rv = cluster.rv
            t0 = time.monotonic()
            sent = 0
            while sent < rate * seconds:
                due = int((time.monotonic() - t0) * rate) + 1
                while sent < min(due, rate * seconds):
                    cluster.apply(o.configmap(f"burst-{sent % 1000}", {"v": str(sent + 1)}, namespace="burst"))
                    sent += 1
                time.sleep(0.002)
            conn.send((start_rv, {rv: t for rv, t in cluster.published.items() if rv > start_rv}))
        elif cmd == "relist_setup":
            cluster.load([o.configmap(f"r-{i}", {"v": "0"}, namespace="relist") for i in range(arg)])
            conn.send(cluster.rv)
        elif cmd == "relist_mutate":
            for i in range(0, arg, 100):
                cluster.apply(o.configmap(f"r-{i}", {"v": "1"}, namespace="relist"))
                cluster.delete("ConfigMap", "relist", f"r-{i + 1}")
            cluster.compact()
            conn.send(cluster.rv)
        elif cmd == "stop":
            server.shutdown()
            conn.send("bye")
            return


# --- measurements ---------------------------------------------------------------------------------------------


def _api(url: str) -> Any:
    from kubernetes import client as k8s

    cfg = k8s.Configuration(host=url)
    cfg.connection_pool_maxsize = 24
    return k8s.ApiClient(cfg)


def raw_list(url: str, namespace: str | None = None) -> tuple[int, float]:
    """Baseline: the unmodified client's paginated LIST of every resource type, JSON-decoded, nothing else."""
    from kubernetes import client as k8s

    from integrations.kubernetes.resources import RESOURCES

    api_client = _api(url)
    count, t0 = 0, time.perf_counter()
    for rt in RESOURCES:
        if namespace and rt.kind != "ConfigMap":
            continue
        api = getattr(k8s, rt.api)(api_client)
        func = getattr(api, rt.list_method(bool(namespace) and rt.namespaced))
        token = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            body = json.loads(func(*((namespace,) if namespace else ()), **kwargs).data)
            count += len(body["items"])
            token = body["metadata"].get("continue")
            if not token:
                break
    return count, time.perf_counter() - t0


def raw_watch(url: str, from_rv: str, expected: int) -> float:
    """Baseline: events/s the unmodified client's Watch delivers replaying the burst, with no processing."""
    from kubernetes import client as k8s
    from kubernetes import watch

    api = k8s.CoreV1Api(_api(url))
    w = watch.Watch(return_type="object")
    n, t0 = 0, time.perf_counter()
    for _ev in w.stream(api.list_namespaced_config_map, "burst", resource_version=from_rv, timeout_seconds=30):
        n += 1
        if n >= expected:
            w.stop()
    return n / (time.perf_counter() - t0)


def _workers(n: int) -> list[subprocess.Popen[bytes]]:
    celery = str(Path(sys.executable).with_name("celery"))
    return [
        subprocess.Popen(
            [
                celery,
                "-A",
                "changetrack",
                "worker",
                "-Q",
                QUEUE,
                "-P",
                "solo",
                "-n",
                f"bench{i}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for i in range(n)
    ]


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (plus its reaped children: PostgreSQL backends that exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU of this worktree's PostgreSQL: the postmaster, its live backends, and the backends it reaped."""
    from changetrack import embedded

    try:
        master = int((embedded.PG_DIR / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = _cpu_seconds(master, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == master:
                total += _cpu_seconds(int(entry.name))
    return total


def _cpu(server_pid: int, workers: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "collector": own.ru_utime + own.ru_stime,
        "workers": sum(_cpu_seconds(w.pid) for w in workers),
        "postgres": _postgres_cpu(),
        "fake_server": _cpu_seconds(server_pid),
    }


def _p(values: list[float], q: float) -> float:
    return values[max(0, int(len(values) * q) - 1)] if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.kubernetes")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--rate", type=int, help="burst events/s (default 1000, --quick 200)")
    parser.add_argument("--seconds", type=int, help="burst length (default 60, --quick 10)")
    args = parser.parse_args(argv)
    workloads, pods_per, configs = (500, 8, 500) if args.quick else (5000, 8, 4000)
    rate, seconds = (200, 10) if args.quick else (1000, 60)
    rate, seconds = args.rate or rate, args.seconds or seconds
    relist_n = 15_000 if args.quick else 150_000

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(child,), daemon=True)
    server.start()
    url = parent.recv()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from changetrack.collect.kubernetes import ClusterConfig, Collector, Tuning
    from changetrack.collect.runtime import CelerySink, build, secret_hash_key
    from changetrack.infra import redis as shared_redis
    from changetrack.models import Change, Cluster, KubeObject, Service, Watermark

    name = f"bench-{uuid.uuid4().hex[:6]}"
    workers = _workers(args.workers)
    out: dict[str, Any] = {"cluster": name, "quick": args.quick, "workers": args.workers}
    try:
        parent.send(("sync", (workloads, pods_per, configs)))
        total = parent.recv()
        listed, raw_secs = raw_list(url)
        shared_redis.client().delete(QUEUE)
        collector = build(
            ClusterConfig(name, _api(url)), CelerySink(max_pending=20, queue_name=QUEUE), Tuning(watch_timeout=300)
        )
        t0 = time.perf_counter()
        collector.start()
        stored = _wait(lambda: KubeObject.objects.filter(cluster=name).count() >= total, 1800)
        sync_secs = time.perf_counter() - t0
        out["sync"] = {
            "objects": total,
            "stored_all": stored,
            "seconds": round(sync_secs, 1),
            "objects_per_s": round(total / sync_secs),
            "baseline_raw_list_seconds": round(raw_secs, 2),
            "baseline_listed": listed,
        }
        print(
            f"initial sync: {total} objects stored in {sync_secs:.1f} s ({total / sync_secs:.0f}/s); "
            f"baseline raw client list {listed} objects in {raw_secs:.2f} s",
            flush=True,
        )

        _wait(lambda: shared_redis.client().llen(QUEUE) == 0, 600)  # the sync's last task (dependency edges) is taken
        time.sleep(2)
        batches_before, sent_before = collector.stats.batches, collector.stats.sent
        cpu_before = _cpu(server.pid, workers)
        parent.send(("burst", (rate, seconds)))
        start_rv, published = parent.recv()
        expected = len(published)
        done = _wait(lambda: Change.objects.filter(service_hint__cluster=name, kind="config").count() >= expected, 600)
        cpu_after = _cpu(server.pid, workers)
        rows = list(
            Change.objects.filter(service_hint__cluster=name, kind="config").values_list(
                "external_id", "occurred_at", "created_at"
            )
        )
        timed = [
            (published[int(ext.split("/")[4])], seen.timestamp(), created.timestamp())
            for ext, seen, created in rows
            if int(ext.split("/")[4]) in published
        ]
        lat = sorted(c - p for p, _, c in timed)
        read_lag = sorted(s - p for p, s, _ in timed)  # published → read off the watch by the collector
        store_lag = sorted(c - s for _, s, c in timed)  # read → row (queue, batch, broker, task)
        first = min(published.values())
        last_row = max(c.timestamp() for _, _, c in rows) if rows else first
        p99 = _p(lat, 0.99)
        burst_batches = collector.stats.batches - batches_before
        raw_eps = raw_watch(url, str(start_rv), expected)
        out["burst"] = {
            "events": expected,
            "rows": len(rows),
            "lost": expected - len(rows),
            "all_stored": done,
            "events_per_s_end_to_end": round(len(rows) / (last_row - first), 1),
            "offered_rate": rate,
            "p50_latency_s": round(lat[len(lat) // 2], 3) if lat else None,
            "p99_latency_s": round(p99, 3),
            "max_latency_s": round(lat[-1], 3) if lat else None,
            "p99_read_lag_s": round(_p(read_lag, 0.99), 3),
            "p99_store_lag_s": round(_p(store_lag, 0.99), 3),
            "burst_batches": burst_batches,
            "observations_per_batch": round((collector.stats.sent - sent_before) / max(burst_batches, 1), 1),
            "cpu_seconds_per_1000_events": {
                k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(expected, 1), 2) for k in cpu_after
            },
            "baseline_raw_watch_events_per_s": round(raw_eps),
            "batches": collector.stats.batches,
            "observations_sent": collector.stats.sent,
        }
        print(
            f"burst: {expected} events at {rate}/s → {len(rows)} rows, lost {expected - len(rows)}; "
            f"{out['burst']['events_per_s_end_to_end']} events/s end to end; p99 watch→row {p99:.2f} s; "
            f"baseline raw client watch {raw_eps:.0f} events/s",
            flush=True,
        )
        print(
            f"  p99 read lag {out['burst']['p99_read_lag_s']} s, p99 read→row {out['burst']['p99_store_lag_s']} s, "
            f"{out['burst']['observations_per_batch']} observations/task, CPU s per 1000 events "
            f"{out['burst']['cpu_seconds_per_1000_events']}",
            flush=True,
        )
        out["collector_peak_rss_mib"] = round(_peak_rss_mib(), 1)
        print(f"collector peak RSS: {out['collector_peak_rss_mib']} MiB (target ≤ 512)", flush=True)
        collector.stop()

        parent.send(("relist_setup", relist_n))
        parent.recv()
        counted, raw_relist = raw_list(url, namespace="relist")

        class CountingSink:
            def __init__(self) -> None:
                self.types: dict[str, int] = {}

            def send(self, cluster: str, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> None:
                for obs in observations:
                    self.types[obs["type"]] = self.types.get(obs["type"], 0) + 1

        sink = CountingSink()
        from integrations.kubernetes.resources import BY_KIND

        rcfg = ClusterConfig(
            f"{name}-relist", _api(url), include=frozenset({"relist"}), resources=(BY_KIND["ConfigMap"],)
        )
        relister = Collector(rcfg, sink, secret_hash_key(), known={}, checkpoints={}, tuning=Tuning())
        from changetrack.collect.kubernetes import ResourceWatcher

        watcher = ResourceWatcher(relister, BY_KIND["ConfigMap"], "relist")
        relister.watchers.append(watcher)
        import threading

        threading.Thread(target=relister._batch_loop, daemon=True).start()
        watcher.relist()
        relister.queue.join()
        parent.send(("relist_mutate", relist_n))
        parent.recv()
        sink.types.clear()
        t0 = time.perf_counter()
        watcher.relist()
        relister.queue.join()
        relist_secs = time.perf_counter() - t0
        relister.stop()
        out["relist"] = {
            "objects": counted,
            "seconds": round(relist_secs, 1),
            "emitted": dict(sink.types),
            "baseline_raw_list_seconds": round(raw_relist, 1),
        }
        print(
            f"relist + diff of {counted} objects after a 410: {relist_secs:.1f} s (target ≤ 60), emitted "
            f"{sink.types}; baseline raw client list {raw_relist:.1f} s",
            flush=True,
        )
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        parent.send(("stop", None))
        KubeObject.objects.filter(cluster=name).delete()
        Change.objects.filter(service_hint__cluster=name).delete()
        Service.objects.filter(cluster__name=name).delete()
        Cluster.objects.filter(name=name).delete()
        Watermark.objects.filter(key__startswith=f"k8s:{name}").delete()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
