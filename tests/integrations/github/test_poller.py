"""The GitHub poller against a local server speaking the REST API, driven by unmodified PyGithub."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from changetrack.ingest.store import store_records
from changetrack.models import Change, Service, Watermark
from integrations.base import ChangeRecord, ServiceHint
from integrations.github import GitHubIntegration
from integrations.github import tasks as gh_tasks
from tests.integrations.github.fake_github import FakeGitHub
from tests.integrations.hooks import fixture

pytestmark = pytest.mark.django_db
REPO = "acme/checkout-api"
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def sha(n: int) -> str:
    return f"{n:07x}" + "ab" * 16 + "0"


def commit(n: int, at: datetime, login: str | None = "dkim") -> dict:
    return {
        "sha": sha(n),
        "node_id": f"C_{n}",
        "url": f"https://api.github.com/repos/{REPO}/commits/{sha(n)}",
        "html_url": f"https://github.com/{REPO}/commit/{sha(n)}",
        "commit": {
            "author": {"name": "Dana Kim", "email": "dana@example.com", "date": iso(at)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": iso(at)},
            "message": f"Change number {n}\n\nbody",
            "tree": {"sha": "t" * 40, "url": ""},
            "comment_count": 0,
        },
        "author": {"login": login, "id": 4455667, "type": "User"} if login else None,
        "committer": {"login": "web-flow", "id": 19864447, "type": "User"},
        "parents": [],
    }


def pull(number: int, merged: datetime | None, merge_sha: str) -> dict:
    at = merged or NOW - timedelta(minutes=5)
    return {
        "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
        "id": 1000 + number,
        "number": number,
        "state": "closed",
        "title": f"PR {number}",
        "user": {"login": "dkim", "id": 1, "type": "User"},
        "created_at": iso(at - timedelta(hours=2)),
        "updated_at": iso(at),
        "closed_at": iso(at),
        "merged_at": iso(merged) if merged else None,
        "merge_commit_sha": merge_sha,
        "html_url": f"https://github.com/{REPO}/pull/{number}",
        "head": {"label": "acme:topic", "ref": "topic", "sha": "f" * 40},
        "base": {"label": "acme:main", "ref": "main", "sha": "e" * 40},
    }


def run(
    run_id: int, at: datetime, status: str = "completed", conclusion: str | None = "success", event: str = "push"
) -> dict:
    return {
        "id": run_id,
        "name": "CI",
        "display_title": "Change",
        "run_number": run_id % 1000,
        "run_attempt": 1,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "head_sha": sha(3),
        "head_branch": "main",
        "workflow_id": 1,
        "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}",
        "url": f"https://api.github.com/repos/{REPO}/actions/runs/{run_id}",
        "created_at": iso(at),
        "updated_at": iso(at + timedelta(minutes=4)),
        "run_started_at": iso(at),
        "actor": {"login": "dkim", "id": 1},
        "triggering_actor": {"login": "dkim", "id": 1},
    }


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        repo = server.add_repo(REPO)
        repo["commits"] = [commit(n, NOW - timedelta(minutes=60 - n)) for n in (3, 2, 1)]  # newest first
        repo["pulls"] = [pull(412, NOW - timedelta(minutes=30), sha(3)), pull(411, None, "")]
        repo["runs"] = [
            run(7001, NOW - timedelta(minutes=20)),
            run(7002, NOW - timedelta(minutes=10), event="pull_request"),
        ]
        dep_url = f"{server.url}/repos/{REPO}/deployments/55"
        repo["deployments"] = [
            {
                "id": 55,
                "url": dep_url,
                "sha": sha(3),
                "ref": "main",
                "task": "deploy",
                "environment": "production",
                "description": "",
                "creator": {"login": "dkim", "id": 1},
                "created_at": iso(NOW - timedelta(minutes=15)),
                "updated_at": iso(NOW - timedelta(minutes=14)),
                "statuses_url": f"{dep_url}/statuses",
                "production_environment": True,
            }
        ]
        repo["statuses"] = {
            55: [
                {
                    "id": 3,
                    "state": "inactive",
                    "created_at": iso(NOW - timedelta(minutes=2)),
                    "description": "",
                    "log_url": "",
                    "environment_url": "",
                    "target_url": "",
                },
                {
                    "id": 2,
                    "state": "success",
                    "created_at": iso(NOW - timedelta(minutes=12)),
                    "description": "ok",
                    "log_url": "https://ci.example.com/55",
                    "environment_url": "",
                    "target_url": "",
                },
                {
                    "id": 1,
                    "state": "pending",
                    "created_at": iso(NOW - timedelta(minutes=15)),
                    "description": "",
                    "log_url": "",
                    "environment_url": "",
                    "target_url": "",
                },
            ]
        }
        yield server


@pytest.fixture
def conn(connection_factory, fake):
    Service.objects.create(name="checkout-api", namespace="payments", repository=REPO)
    return connection_factory(
        "github", clear={"webhook_secret": "s", "token": "ghp_test"}, config={"api_url": fake.url}
    )


def poll(conn, now=NOW, **options):
    return gh_tasks.poll_connection(conn, now=now, backoff=0, min_interval=0, **options)


def watermark(conn) -> dict:
    row = Watermark.objects.filter(key=f"github:{conn.pk}:{REPO}").first()
    return json.loads(row.value) if row else {}


def test_a_poll_stores_default_branch_commits_merged_pulls_runs_and_deployments(conn, fake):
    summary = poll(conn)
    assert summary["records"] == 4 and not summary["errors"]
    commits = Change.objects.get(source="github", kind="commit", external_id=f"commits:{REPO}:{sha(3)}")
    assert [c["sha"] for c in commits.details["commits"]] == [sha(1), sha(2), sha(3)]
    assert commits.service.name == "checkout-api" and commits.release_key == sha(3)[:7]
    assert Change.objects.get(external_id=f"pr:{REPO}#412").commit_sha == sha(3)
    assert not Change.objects.filter(external_id=f"pr:{REPO}#411").exists()  # closed without merge
    ci = Change.objects.get(external_id=f"run:{REPO}:7001")
    assert (ci.status, ci.details["duration_seconds"]) == ("succeeded", 240)
    assert not Change.objects.filter(external_id=f"run:{REPO}:7002").exists()  # a pull request's run
    deploy = Change.objects.get(external_id=f"deployment:{REPO}:55")
    assert (deploy.kind, deploy.status) == ("deploy", "succeeded")
    assert watermark(conn) == {"since": NOW.isoformat()}


def test_the_commit_list_is_followed_across_pages(conn, fake):
    fake.repos[REPO]["commits"] = [commit(n, NOW - timedelta(minutes=300 - n)) for n in range(250, 0, -1)]
    poll(conn)
    change = Change.objects.get(external_id=f"commits:{REPO}:{sha(250)}")
    assert change.details["commit_count"] == 250 and len(change.details["shas"]) == 250
    pages = fake.paths("/commits?")
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_a_webhook_change_and_a_polled_change_of_the_same_push_are_one_change(conn, fake):
    payload = fixture("github", "push")
    for c in payload["commits"]:
        c["timestamp"] = iso(NOW - timedelta(minutes=50))  # pushed recently
    records = GitHubIntegration().parse("push", payload)
    store_records(records)
    pushed = [c["sha"] for c in records[0].details["commits"]]
    fake.repos[REPO]["commits"] = [commit(9, NOW - timedelta(minutes=1))] + [
        {**commit(0, NOW - timedelta(minutes=50)), "sha": s} for s in reversed(pushed)
    ]
    poll(conn)
    polled = Change.objects.get(external_id=f"commits:{REPO}:{sha(9)}")
    assert polled.details["shas"] == [sha(9)]  # the pushed commits are not repeated
    assert Change.objects.filter(kind="commit", source="github").count() == 3  # push, poll, merged PR


def test_the_next_poll_starts_from_the_watermark(conn, fake):
    poll(conn)
    fake.requests.clear()
    later = NOW + timedelta(minutes=5)
    poll(conn, now=later)
    (first,) = fake.paths("/commits?")
    since = datetime.fromisoformat(
        dict(p.split("=") for p in first.split("?")[1].split("&"))["since"].replace("%3A", ":").replace("Z", "+00:00")
    )
    assert since == NOW - timedelta(hours=1)  # the watermark minus the overlap for late-dated commits
    assert watermark(conn) == {"since": later.isoformat()}


def test_a_rate_limit_returns_at_once_and_the_poll_resumes_after_the_reset_without_a_gap(conn, fake):
    reset = int((NOW + timedelta(hours=1)).timestamp())
    fake.rate_limit("/pulls", reset=reset)
    summary = poll(conn)
    assert summary["resume_after"] == datetime.fromtimestamp(reset + 1, UTC).isoformat()
    assert len(fake.paths("/pulls")) == 1  # no retry loop, no hour-long sleep
    assert watermark(conn) == {}  # not advanced: the pulls were not read
    assert (
        Change.objects.filter(kind="commit", external_id__startswith="commits:").count() == 1
    )  # found before the limit
    # Before the reset nothing is asked of GitHub.
    fake.requests.clear()
    assert poll(conn, now=NOW + timedelta(minutes=30))["skipped"] == "rate limited" and fake.requests == []
    # After it, the poll starts from the old watermark: a commit pushed meanwhile and the merged PR are both found.
    fake.repos[REPO]["commits"].insert(0, commit(4, NOW + timedelta(minutes=20)))
    after = NOW + timedelta(hours=1, seconds=5)
    assert not poll(conn, now=after)["errors"]
    assert Change.objects.filter(external_id=f"pr:{REPO}#412").exists()
    assert Change.objects.get(external_id=f"commits:{REPO}:{sha(4)}").details["shas"] == [sha(4)]
    assert watermark(conn) == {"since": after.isoformat()}


def test_a_429_with_retry_after_is_a_pause_not_a_failure(conn, fake):
    fake.fail("/actions/runs", 429, {"Retry-After": "120"}, {"message": "Too Many Requests"})
    summary = poll(conn)
    assert summary["resume_after"] == (NOW + timedelta(seconds=120)).isoformat()
    assert len(fake.paths("/actions/runs")) == 1 and watermark(conn) == {}


def test_a_secondary_rate_limit_is_a_pause(conn, fake):
    fake.fail(
        "/deployments",
        403,
        {"Retry-After": "60"},
        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
        times=10,
    )
    summary = poll(conn)
    assert "resume_after" in summary and watermark(conn) == {}


def test_server_errors_are_retried(conn, fake):
    fake.fail("/deployments", 502, times=2)
    summary = poll(conn)
    assert not summary["errors"] and len(fake.paths("/deployments?")) == 3
    assert Change.objects.filter(external_id=f"deployment:{REPO}:55").exists()


def test_a_lasting_outage_pauses_the_poll_and_keeps_the_watermark(conn, fake):
    fake.fail("/pulls", 503, times=50)
    summary = poll(conn)
    assert summary["resume_after"] == (NOW + timedelta(minutes=1)).isoformat() and watermark(conn) == {}
    assert len(fake.paths("/pulls")) == 4  # the first try and three retries


def test_an_unknown_repository_is_reported_and_the_others_are_polled(conn, fake):
    Service.objects.create(name="gone", repository="acme/gone")
    summary = poll(conn)
    assert "acme/gone" in summary["errors"] and summary["repositories"] == 2
    assert watermark(conn) == {"since": NOW.isoformat()}


def test_the_beat_schedule_runs_the_pollers():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "integrations.github.poll",
        "integrations.github.attach_pending_commit_ranges",
        "integrations.launchdarkly.poll",
    } <= tasks


def _deploy_with_range(base: str, head: str, status: str = "in_progress") -> int:
    result = store_records(
        [
            ChangeRecord(
                source="kubernetes",
                external_id="prod/payments/Deployment/checkout-api/7",
                kind="deploy",
                occurred_at=NOW,
                summary="checkout-api 2.13 → 2.14",
                service=ServiceHint(name="checkout-api", namespace="payments"),
                status=status,
                details={"commits": {"from": base, "to": head}, "image": "checkout-api:2.14.0"},
                commit_sha=head,
                repository=REPO,
            )
        ]
    )
    return result.changes[0][0]


def test_a_deploy_that_knows_its_old_and_new_commit_gets_the_commits_and_files_between(conn, fake):
    commits = [commit(n, NOW - timedelta(minutes=n)) for n in (1, 2)]
    commits[1]["author"] = None  # a commit whose email matches no GitHub user
    fake.repos[REPO]["compares"][f"{sha(0)}...{sha(2)}"] = {
        "url": f"{fake.url}/repos/{REPO}/compare/{sha(0)}...{sha(2)}",
        "html_url": f"https://github.com/{REPO}/compare/x...y",
        "status": "ahead",
        "ahead_by": 2,
        "behind_by": 0,
        "total_commits": 2,
        "commits": commits,
        "files": [
            {
                "sha": "1" * 40,
                "filename": "config/timeouts.yaml",
                "status": "modified",
                "additions": 2,
                "deletions": 1,
                "changes": 3,
            }
        ],
        "base_commit": commit(0, NOW),
        "merge_base_commit": commit(0, NOW),
    }
    change_id = _deploy_with_range(sha(0), sha(2))
    assert gh_tasks.pending_ranges() == [change_id]
    assert gh_tasks.attach_range(change_id, backoff=0, min_interval=0) == "attached"
    attached = Change.objects.get(pk=change_id).details["commit_range"]
    assert [c["sha"] for c in attached["commits"]] == [sha(1), sha(2)]
    assert [c["author"] for c in attached["commits"]] == ["dkim", "Dana Kim"]
    assert attached["files"] == [
        {"filename": "config/timeouts.yaml", "status": "modified", "additions": 2, "deletions": 1}
    ]
    assert gh_tasks.pending_ranges() == []
    _deploy_with_range(sha(0), sha(2), status="succeeded")  # the rollout finishes: the source updates the change
    after = Change.objects.get(pk=change_id)
    assert after.status == "succeeded" and after.details["commit_range"]["total_commits"] == 2


def test_a_commit_range_github_does_not_know_is_recorded_and_not_retried(conn, fake):
    change_id = _deploy_with_range(sha(7), sha(8))
    assert gh_tasks.attach_range(change_id, backoff=0, min_interval=0) == "attached"
    assert Change.objects.get(pk=change_id).details["commit_range"]["error"].startswith("GitHub 404")
    assert gh_tasks.pending_ranges() == []


def test_a_rate_limited_commit_range_is_retried_later(conn, fake):
    change_id = _deploy_with_range(sha(0), sha(2))
    fake.rate_limit("/compare/", reset=int((NOW + timedelta(hours=1)).timestamp()))
    with pytest.raises(gh_tasks.poller.RateLimited):
        gh_tasks.attach_range(change_id, backoff=0, min_interval=0)
    assert "commit_range" not in Change.objects.get(pk=change_id).details


def _wait_for(check, seconds: float = 60.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


@pytest.mark.django_db(transaction=True)
def test_the_beat_tasks_poll_and_attach_ranges_through_a_real_worker(celery_worker, conn, fake):
    from integrations.github.tasks import attach_pending_commit_ranges, poll_github

    fake.repos[REPO]["compares"][f"{sha(1)}...{sha(3)}"] = {
        "url": f"{fake.url}/repos/{REPO}/compare/{sha(1)}...{sha(3)}",
        "html_url": "",
        "status": "ahead",
        "ahead_by": 2,
        "behind_by": 0,
        "total_commits": 2,
        "commits": [commit(2, NOW), commit(3, NOW)],
        "files": [],
    }
    poll_github.delay()
    assert _wait_for(lambda: Change.objects.filter(external_id=f"deployment:{REPO}:55").exists())
    change_id = _deploy_with_range(sha(1), sha(3))
    attach_pending_commit_ranges.delay()
    attached = _wait_for(lambda: Change.objects.get(pk=change_id).details.get("commit_range"))
    assert [c["sha"] for c in attached["commits"]] == [sha(2), sha(3)]


def test_an_odd_run_is_skipped_and_the_watermark_still_moves(conn, fake):
    fake.repos[REPO]["runs"].append(run(7003, NOW - timedelta(minutes=5), status="completed", conclusion=None))
    summary = poll(conn)
    assert not summary["errors"] and Change.objects.filter(external_id=f"run:{REPO}:7001").exists()
    assert not Change.objects.filter(external_id=f"run:{REPO}:7003").exists()
    assert watermark(conn) == {"since": NOW.isoformat()}


def test_a_poll_already_running_for_a_connection_is_not_started_twice(conn, fake, redis_client):
    from integrations.github.tasks import poll_github
    from integrations.polling import single_run

    with single_run(f"github:{conn.pk}") as first:
        assert first
        assert poll_github.apply().get() == {str(conn.pk): {"skipped": "a poll is already running"}}
    assert fake.requests == []
    assert poll_github.apply().get()[str(conn.pk)]["repositories"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_deploy_found_late_by_the_poller_becomes_a_suspect_of_an_open_alert(celery_worker, conn, fake):
    from changetrack.models import Alert, Suspect
    from integrations.base import AlertRecord

    service = Service.objects.get(repository=REPO)
    started = NOW - timedelta(minutes=8)  # after the deploy (15 min ago), before the poll
    store_records(
        [
            AlertRecord(
                source="datadog",
                external_id="cycle-1",
                title="checkout 5xx",
                status="triggered",
                occurred_at=started,
                service=ServiceHint(name=service.name, namespace=service.namespace),
            )
        ]
    )
    alert = Alert.objects.get(external_id="cycle-1")
    from integrations.github.tasks import poll_github

    poll_github.delay()
    deploy = _wait_for(lambda: Change.objects.filter(external_id=f"deployment:{REPO}:55").first())
    assert deploy is not None
    assert _wait_for(lambda: Suspect.objects.filter(alert=alert, change_id=deploy.pk).exists())


def _new_work_after_the_first_poll(fake) -> set[str]:
    """A commit, a merged pull request and a push run that appear after the first poll: the external ids."""
    repo = fake.repos[REPO]
    repo["commits"].insert(0, commit(4, NOW + timedelta(minutes=2)))
    repo["pulls"].insert(0, pull(413, NOW + timedelta(minutes=3), sha(4)))
    repo["runs"].append(run(7004, NOW + timedelta(minutes=4)))
    return {f"commits:{REPO}:{sha(4)}", f"pr:{REPO}#413", f"run:{REPO}:7004"}


def _github_ids() -> list[str]:
    return list(Change.objects.filter(source="github").values_list("external_id", flat=True))


def test_a_5xx_outage_longer_than_the_retries_keeps_the_watermark_and_the_poll_after_recovery_has_no_gap(conn, fake):
    poll(conn)
    before = set(_github_ids())
    assert len(before) == 4 and watermark(conn) == {"since": NOW.isoformat()}
    new = _new_work_after_the_first_poll(fake)
    for status in (500, 502, 503):  # six failures: more than the first try and its three retries
        fake.fail("/pulls", status, times=2)
    during = NOW + timedelta(minutes=5)
    summary = poll(conn, now=during)
    assert summary["resume_after"] == (during + timedelta(minutes=1)).isoformat()
    assert watermark(conn) == {"since": NOW.isoformat()}  # the new pull request and run were never read
    assert not Change.objects.filter(external_id__in=[f"pr:{REPO}#413", f"run:{REPO}:7004"]).exists()
    fake.failures.clear()  # GitHub recovers
    after = during + timedelta(minutes=2)
    assert not poll(conn, now=after)["errors"]
    ids = _github_ids()
    assert set(ids) == before | new and len(ids) == len(set(ids))  # nothing missing, nothing twice
    assert Change.objects.get(external_id=f"commits:{REPO}:{sha(4)}").details["shas"] == [sha(4)]
    assert watermark(conn) == {"since": after.isoformat()}


def _finishes_within(seconds: float, call):
    """Run ``call`` in a thread; fail if it is still running after ``seconds`` (a hang, not a slow run)."""
    import threading

    from django.db import connection

    out: dict = {}

    def target():
        try:
            out["value"] = call()
        finally:
            connection.close()  # this thread's database connection

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    assert "value" in out, "the call raised"
    return out["value"]


@pytest.mark.django_db(transaction=True)  # the poll runs in another thread: it must see committed rows
def test_a_server_that_stops_answering_ends_the_poll_and_the_next_poll_resumes_without_a_gap(conn, fake):
    poll(conn)
    before = set(_github_ids())
    new = _new_work_after_the_first_poll(fake)
    fake.stall("/actions/runs")  # accepts the connection, reads the request, never answers
    during = NOW + timedelta(minutes=5)
    summary = _finishes_within(30, lambda: poll(conn, now=during, timeout=1))
    assert summary["resume_after"] == (during + timedelta(minutes=1)).isoformat()
    assert watermark(conn) == {"since": NOW.isoformat()}
    assert not Change.objects.filter(external_id=f"run:{REPO}:7004").exists()
    fake.release()
    after = during + timedelta(minutes=2)
    assert not _finishes_within(30, lambda: poll(conn, now=after, timeout=1))["errors"]
    ids = _github_ids()
    assert set(ids) == before | new and len(ids) == len(set(ids))
    assert watermark(conn) == {"since": after.isoformat()}
