"""Trace-edge import benchmark: a service graph read from traces stored through ``store_records``.

A graph of ``--edges`` client → server pairs over ``--services`` services (one in ten names matching no service,
kept as unmapped edges), stored as provenance ``traces`` (names resolved loosely, confidence from calls, unmapped
bookkeeping) twice (the first import, then the same graph again, as every poll does), next to the same edges stored
as ``declared`` with fully qualified hints (the path every other edge source takes), in the same run on the same
database. Run: ``python -m bench traces [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.traces")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    services, edges = (300, 2000) if args.quick else (2000, 10000)

    from bench import _db

    _db.prepare("changetrack_bench_traces")
    from changetrack.ingest.store import store_records
    from changetrack.models import Dependency, Service, UnmappedEdge
    from integrations.base import DependencyRecord, ServiceHint
    from integrations.traces import trace_edge

    Dependency.objects.all().delete()
    UnmappedEdge.objects.all().delete()
    Service.objects.all().delete()
    Service.objects.bulk_create(Service(name=f"svc-{i}", namespace="shop") for i in range(services))
    rng = random.Random(7)
    pairs = {(rng.randrange(services), rng.randrange(services)) for _ in range(edges * 2)}
    pairs = {(a, b) for a, b in pairs if a != b}
    chosen = sorted(pairs)[:edges]

    def name(i: int) -> str:
        return f"svc-{i}" if i % 10 else f"unknown-{i}"

    traced = [e for a, b in chosen if (e := trace_edge(name(a), name(b), rng.randrange(1, 5000)))]
    declared = [
        DependencyRecord(
            ServiceHint(name=f"svc-{a}", namespace="shop", create=True),
            ServiceHint(name=f"svc-{b}", namespace="shop", create=True),
            "declared",
        )
        for a, b in chosen
    ]

    def timed(records: list) -> float:  # type: ignore[type-arg]
        started = time.perf_counter()
        for i in range(0, len(records), 1000):
            store_records(records[i : i + 1000])
        return time.perf_counter() - started

    baseline = timed(declared)
    first = timed(traced)
    again = timed(traced)
    print(
        f"{len(chosen)} edges over {services} services ({sum(1 for a, b in chosen if a % 10 == 0 or b % 10 == 0)} with an unknown name)"
    )
    print(f"baseline: declared edges, exact hints     {len(declared) / baseline:10.0f} edges/s ({baseline:.2f} s)")
    print(f"traces: first import                      {len(traced) / first:10.0f} edges/s ({first:.2f} s)")
    print(f"traces: the same graph again (each poll)  {len(traced) / again:10.0f} edges/s ({again:.2f} s)")
    print(
        f"stored: {Dependency.objects.filter(provenance='traces').count()} trace edges, {UnmappedEdge.objects.count()} unmapped"
    )
    return 0
