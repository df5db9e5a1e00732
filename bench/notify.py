"""Slack notices under ingestion load (issue 16), next to a same-run baseline.

Alerts arrive by webhook (``POST /hooks/generic/<uuid>/``, gunicorn) while background processes deliver about
``--rate`` other webhooks a second (changes on other services). Figure: from the alert webhook's answer to its
``chat.postMessage`` reaching a local server speaking Slack's Web API (driven by slack_sdk in the real Celery
workers), p50 and p95; baseline: from the same answer to the moment its suspects were ranked and stored. Target:
p95 ≤ 3 s.

``python -m bench notify [--quick] [--alerts N] [--rate R] [--celery-workers W]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import _db
from bench.ingest import post_status

ALERT_GAP_SECONDS = 2.0  # one alert every 2 s: under Slack's one message a second per channel


def _background(port: int, path: str, token: str, rate: float, seconds: float, tag: str, queue: Any) -> None:
    """One load process: paced POSTs of changes on other services over a keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Changetrack-Token": token}
    ok = errors = i = 0
    started = time.monotonic()
    while (now := time.monotonic()) - started < seconds:
        due = started + i / rate
        if due > now:
            time.sleep(due - now)
        i += 1
        body = {
            "type": "change",
            "service": {"name": f"load-{i % 50}", "namespace": "bench"},
            "kind": "deploy",
            "summary": "background deploy",
            "timestamp": datetime.now(UTC).isoformat(),
            "external_id": f"{tag}-{i}",
        }
        status = post_status(conn, path, json.dumps(body).encode(), headers)
        ok += status == 202
        errors += status != 202
    queue.put((ok, errors))


def _post(port: int, path: str, token: str, body: dict[str, Any]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Changetrack-Token": token}
    status = post_status(conn, path, json.dumps(body).encode(), headers)
    conn.close()
    return status


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench notify", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 alerts instead of 30")
    parser.add_argument("--alerts", type=int, default=0)
    parser.add_argument("--rate", type=float, default=200.0, help="background webhook deliveries per second")
    parser.add_argument("--load-processes", type=int, default=6)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--celery-workers", type=int, default=2)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    alerts = args.alerts or (10 if args.quick else 30)

    from tests.notify.fake_slack import TOKEN, FakeSlack
    from tests.reliability import procs

    with FakeSlack() as slack:
        env = {**_db.prepare(), "SLACK_API_URL": slack.url}
        from changetrack.models import Alert, Connection

        Connection.objects.filter(integration__in=["slack", "webhook"]).update(enabled=False)  # earlier runs'
        token = secrets.token_urlsafe(24)
        source = Connection(integration="generic", name="bench notify source")
        source.set_secrets({}, {"token": token})
        source.save()
        dest = Connection(integration="slack", name="bench slack", config={"channel": "#oncall"})
        dest.set_secrets({"bot_token": TOKEN, "signing_secret": "bench"}, {})
        dest.save()

        logdir = Path(tempfile.mkdtemp(prefix="ct-bench-notify-"))
        web, port = procs.gunicorn(env, logdir / "web.log", workers=args.web_workers)
        workers = [procs.celery_worker(env, logdir / f"worker-{i}.log") for i in range(args.celery_workers)]
        tag = uuid.uuid4().hex[:8]
        try:
            # each alert's service gets a deploy 10 minutes before it: something to rank
            for i in range(alerts):
                when = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
                change = {"type": "change", "service": {"name": f"svc-{tag}-{i}", "namespace": "bench"}}
                change |= {"kind": "deploy", "summary": f"Deploy svc-{tag}-{i}", "timestamp": when}
                _post(port, source.webhook_path, token, change | {"external_id": f"setup-{tag}-{i}"})
            time.sleep(3)  # the setup changes are drained and stored before the measured part

            seconds = alerts * ALERT_GAP_SECONDS + 5
            ctx = multiprocessing.get_context("fork")
            queue = ctx.Queue()
            share = args.rate / args.load_processes
            load = [
                ctx.Process(
                    target=_background,
                    args=(port, source.webhook_path, token, share, seconds, f"{tag}-bg{n}", queue),
                )
                for n in range(args.load_processes)
            ]
            for p in load:
                p.start()
            time.sleep(2)  # the load reaches its rate first
            answered: dict[str, float] = {}
            for i in range(alerts):
                title = f"bench alert {tag}-{i}"
                body = {
                    "type": "alert",
                    "service": {"name": f"svc-{tag}-{i}", "namespace": "bench"},
                    "title": title,
                    "status": "triggered",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "external_id": f"alert-{tag}-{i}",
                    "severity": "critical",
                }
                status = _post(port, source.webhook_path, token, body)
                answered[title] = time.time()
                if status != 202:
                    print(f"  alert {i}: answered {status}")
                time.sleep(ALERT_GAP_SECONDS)
            results = [queue.get() for _ in load]
            for p in load:
                p.join()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(slack.calls_of("chat.postMessage")) < alerts:
                time.sleep(0.2)
        finally:
            for proc in [*workers, web]:
                proc.kill()

        posted = {body.get("text", ""): at for m, body, at in slack.calls if m == "chat.postMessage"}
        to_slack, to_suspects = [], []
        for title, at in answered.items():
            hit = next((t for text, t in posted.items() if title in text), None)
            if hit is not None:
                to_slack.append(hit - at)
            alert = Alert.objects.filter(title=title).only("suspects_computed_at").first()
            if alert and alert.suspects_computed_at:
                to_suspects.append(alert.suspects_computed_at.timestamp() - at)
        sent = sum(r[0] for r in results) / seconds
        errors = sum(r[1] for r in results)

    print(
        f"{alerts} alerts, one every {ALERT_GAP_SECONDS:.0f} s, while {sent:.0f} other webhook deliveries/s were "
        f"ingested ({errors} non-202); gunicorn {args.web_workers} workers, {args.celery_workers} Celery workers"
    )
    if to_suspects:
        print(
            f"    webhook answer → suspects ranked and stored   p50 {statistics.median(to_suspects):5.2f} s   "
            f"p95 {_pct(to_suspects, 0.95):5.2f} s   ({len(to_suspects)} alerts)"
        )
    if not to_slack:
        print("    no chat.postMessage reached the local Slack: see the worker logs in", logdir)
        return 1
    p95 = _pct(to_slack, 0.95)
    print(
        f"    webhook answer → chat.postMessage at Slack    p50 {statistics.median(to_slack):5.2f} s   "
        f"p95 {p95:5.2f} s   ({len(to_slack)}/{alerts} posted)"
    )
    print(f"    target p95 ≤ 3 s  {'OK' if p95 <= 3 else 'ABOVE TARGET'}")
    print("figures are indicative: the machine is shared")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
