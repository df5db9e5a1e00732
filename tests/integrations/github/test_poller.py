"""The GitHub poll against a local server speaking the REST API, driven by unmodified PyGithub: what is read,
the per-repository ``since``, GitHub's rate-limit answers, commit ranges. Lock, retries, outages and kills:
``tests/collect/test_polling_runner.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from changetrack.collect import github, polling
from changetrack.ingest.store import store_records
from changetrack.models import Change, PollState, Service
from integrations.base import ChangeRecord, RateLimited, ServiceHint
from integrations.github import GitHubIntegration
from tests.integrations.github.fake_github import FakeGitHub
from tests.integrations.helpers import fixture_json as fixture

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
        "github",
        clear={"webhook_secret": "s", "token": "ghp_test"},
        config={"api_url": fake.url, "seconds_between_requests": 0},
    )


def session():
    return polling.retrying_session(backoff=0)


def poll(conn, now=NOW):
    return polling.poll_connection(conn, now=now, session=session())


def watermark(conn) -> dict:
    row = PollState.objects.filter(connection=conn).first()
    return row.state.get("repositories", {}).get(REPO, {}) if row else {}


def test_a_poll_stores_default_branch_commits_merged_pulls_runs_and_deployments(conn, fake):
    summary = poll(conn)
    assert summary.records == 4 and not summary.errors
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
    assert summary.resume_after == datetime.fromtimestamp(reset + 1, UTC)
    assert len(fake.paths("/pulls")) == 1  # no retry loop, no hour-long sleep
    assert watermark(conn) == {}  # not advanced: the pulls were not read
    assert (
        Change.objects.filter(kind="commit", external_id__startswith="commits:").count() == 1
    )  # found before the limit
    # Before the reset nothing is asked of GitHub.
    fake.requests.clear()
    assert poll(conn, now=NOW + timedelta(minutes=30)).outcome == "rate limited" and fake.requests == []
    # After it, the poll starts from the old watermark: a commit pushed meanwhile and the merged PR are both found.
    fake.repos[REPO]["commits"].insert(0, commit(4, NOW + timedelta(minutes=20)))
    after = NOW + timedelta(hours=1, seconds=5)
    assert not poll(conn, now=after).errors
    assert Change.objects.filter(external_id=f"pr:{REPO}#412").exists()
    assert Change.objects.get(external_id=f"commits:{REPO}:{sha(4)}").details["shas"] == [sha(4)]
    assert watermark(conn) == {"since": after.isoformat()}


def test_a_429_with_retry_after_is_a_pause_not_a_failure(conn, fake):
    fake.fail("/actions/runs", 429, {"Retry-After": "120"}, {"message": "Too Many Requests"})
    summary = poll(conn)
    assert summary.resume_after == NOW + timedelta(seconds=120)
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
    assert summary.resume_after == NOW + timedelta(seconds=60) and watermark(conn) == {}


def test_an_unknown_repository_is_reported_and_the_others_are_polled(conn, fake):
    Service.objects.create(name="gone", repository="acme/gone")
    summary = poll(conn)
    assert any(e.startswith("acme/gone:") for e in summary.errors) and summary.steps == 2
    assert watermark(conn) == {"since": NOW.isoformat()}


def test_the_beat_schedule_runs_the_pollers():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"changetrack.poll_due", "changetrack.attach_pending_commit_ranges"} <= tasks


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
    assert github.pending_ranges() == [change_id]
    assert github.attach_range(change_id, session()) == "attached"
    attached = Change.objects.get(pk=change_id).details["commit_range"]
    assert [c["sha"] for c in attached["commits"]] == [sha(1), sha(2)]
    assert [c["author"] for c in attached["commits"]] == ["dkim", "Dana Kim"]
    assert attached["files"] == [
        {"filename": "config/timeouts.yaml", "status": "modified", "additions": 2, "deletions": 1}
    ]
    assert github.pending_ranges() == []
    _deploy_with_range(sha(0), sha(2), status="succeeded")  # the rollout finishes: the source updates the change
    after = Change.objects.get(pk=change_id)
    assert after.status == "succeeded" and after.details["commit_range"]["total_commits"] == 2


def test_a_commit_range_github_does_not_know_is_recorded_and_not_retried(conn, fake):
    change_id = _deploy_with_range(sha(7), sha(8))
    assert github.attach_range(change_id, session()) == "attached"
    assert Change.objects.get(pk=change_id).details["commit_range"]["error"].startswith("GitHub 404")
    assert github.pending_ranges() == []


def test_a_rate_limited_commit_range_is_retried_later(conn, fake):
    change_id = _deploy_with_range(sha(0), sha(2))
    fake.rate_limit("/compare/", reset=int((NOW + timedelta(hours=1)).timestamp()))
    with pytest.raises(RateLimited):
        github.attach_range(change_id, session())
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
    from changetrack.collect.tasks import attach_pending_commit_ranges, poll_due

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
    poll_due.delay()
    assert _wait_for(lambda: Change.objects.filter(external_id=f"deployment:{REPO}:55").exists())
    change_id = _deploy_with_range(sha(1), sha(3))
    attach_pending_commit_ranges.delay()
    attached = _wait_for(lambda: Change.objects.get(pk=change_id).details.get("commit_range"))
    assert [c["sha"] for c in attached["commits"]] == [sha(2), sha(3)]


def test_an_odd_run_is_skipped_and_the_watermark_still_moves(conn, fake):
    fake.repos[REPO]["runs"].append(run(7003, NOW - timedelta(minutes=5), status="completed", conclusion=None))
    summary = poll(conn)
    assert not summary.errors and Change.objects.filter(external_id=f"run:{REPO}:7001").exists()
    assert not Change.objects.filter(external_id=f"run:{REPO}:7003").exists()
    assert watermark(conn) == {"since": NOW.isoformat()}


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
    from changetrack.collect.tasks import poll_due

    poll_due.delay()
    deploy = _wait_for(lambda: Change.objects.filter(external_id=f"deployment:{REPO}:55").first())
    assert deploy is not None
    assert _wait_for(lambda: Suspect.objects.filter(alert=alert, change_id=deploy.pk).exists())


def test_the_pure_poll_reads_state_in_and_gives_records_and_state_out_without_a_database(fake):
    fake.add_repo("acme/gone-too")
    fake.repos.pop("acme/gone-too")
    steps = list(
        GitHubIntegration().poll(
            {"api_url": fake.url, "seconds_between_requests": 0, "repositories": ["acme/gone-too", REPO]},
            {"token": "ghp_test"},
            {"repositories": {REPO: {"since": (NOW - timedelta(minutes=40)).isoformat()}}},
            NOW,
            session(),
        )
    )
    gone, polled = steps
    assert gone.error.startswith("acme/gone-too:") and gone.records == []
    assert gone.state == {"repositories": {REPO: {"since": (NOW - timedelta(minutes=40)).isoformat()}}}
    # since 40 minutes ago minus the commit overlap: all three commits; the PR, the push run and the deployment
    assert [r.external_id for r in polled.records] == [
        f"commits:{REPO}:{sha(3)}",
        f"pr:{REPO}#412",
        f"run:{REPO}:7001",
        f"deployment:{REPO}:55",
    ]
    assert polled.state == {"repositories": {REPO: {"since": NOW.isoformat()}}}


def test_pygithub_follows_the_runners_retry_policy_and_never_sleeps_on_a_rate_limit(fake):
    import time

    def pure_poll(retries: int) -> list:
        return list(
            GitHubIntegration().poll(
                {"api_url": fake.url, "seconds_between_requests": 0, "repositories": [REPO]},
                {"token": "ghp_test"},
                {},
                NOW,
                polling.retrying_session(retries=retries, backoff=0),
            )
        )

    fake.fail("/pulls", 503, times=50)
    with pytest.raises(RateLimited):
        pure_poll(retries=1)
    assert len(fake.paths("/pulls")) == 2  # the first try and the session's one retry, not PyGithub's default
    fake.failures.clear()
    fake.fail("/pulls", 429, {"Retry-After": "3600"}, {"message": "Too Many Requests"})
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        pure_poll(retries=3)
    assert info.value.resume_after == NOW + timedelta(hours=1) and time.monotonic() - started < 10


def test_credentials_in_polled_commit_messages_and_commit_ranges_are_stored_only_as_hashes(conn, fake):
    """Issue 15, finding 2: pollers and the commit-range enrichment go through the one scrubber too."""
    from tests.database_text import all_database_text

    planted = ["PLANTEDPOLL1X9F3A", "PLANTEDPOLL2X7B1C", "PLANTEDRANGE3X5D2E"]
    fake.repos[REPO]["commits"][0]["commit"]["message"] = f"Rotate creds\n\nDB_PASSWORD={planted[0]}"
    fake.repos[REPO]["commits"][1]["html_url"] = f"https://ci:{planted[1]}@github.com/{REPO}/commit/x"
    assert poll(conn).records == 4
    ranged = [commit(1, NOW)]
    ranged[0]["commit"]["message"] = f"Use --api-token {planted[2]} in the deploy script"
    fake.repos[REPO]["compares"][f"{sha(0)}...{sha(1)}"] = {
        "url": f"{fake.url}/repos/{REPO}/compare/{sha(0)}...{sha(1)}",
        "html_url": f"https://github.com/{REPO}/compare/x...y",
        "status": "ahead",
        "ahead_by": 1,
        "behind_by": 0,
        "total_commits": 1,
        "commits": ranged,
        "files": [],
        "base_commit": commit(0, NOW),
        "merge_base_commit": commit(0, NOW),
    }
    change_id = _deploy_with_range(sha(0), sha(1))
    assert github.attach_range(change_id, session()) == "attached"
    assert "hmac-sha256:" in str(Change.objects.get(pk=change_id).details["commit_range"])
    stored = all_database_text()
    assert [p for p in planted if p in stored] == []
