"""Jenkins Notification plugin (HTTP + JSON): one ``ci`` change per build, updated in place by phase.

The plugin signs nothing and sets no custom header; it only supports credentials in the URL
(``https://jenkins:<secret>@changetrack.example.com/hooks/jenkins/<uuid>/``), which arrive as HTTP Basic auth.
``X-Changetrack-Token`` is accepted too, for a proxy or a pipeline step that can set headers. The secret is
stored as a hash. Source: https://github.com/jenkinsci/notification-plugin (``JobState``, ``BuildState``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from integrations.base import (
    ChangeRecord,
    ConfigField,
    Integration,
    ParseError,
    Record,
    ServiceHint,
    VerificationError,
    event_field,
    parse_time,
    require,
    require_str,
)
from integrations.gitref import commit_sha, public_url, repository_from_url

PHASE_ORDER = {"QUEUED": 0, "STARTED": 1, "COMPLETED": 2, "FINALIZED": 3}
#: Jenkins ``Result`` → our status; FINALIZED comes after post-build steps, so it has the last word.
RESULT = {
    "SUCCESS": "succeeded",
    "UNSTABLE": "failed",
    "FAILURE": "failed",
    "NOT_BUILT": "skipped",
    "ABORTED": "cancelled",
}


def _basic_password(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def job_full_name(payload: Any) -> str:
    """The job's full name (``acme/checkout-api/main`` for a multibranch branch job) from its URL
    (``job/acme/job/checkout-api/job/main/``): ``name`` is only the last segment, which the branch jobs of every
    repository share. Falls back to ``name`` when the plugin sent no URL."""
    name = require_str(payload, "name")
    url = payload.get("url")
    if not isinstance(url, str):
        return name
    parts = url.strip("/").split("/")
    # Jenkins' job URLs are job/<segment>/job/<segment>/...; a branch name with "/" is encoded twice (%252F)
    if len(parts) < 2 or len(parts) % 2 or any(p != "job" for p in parts[::2]) or not all(parts[1::2]):
        return name
    return "/".join(unquote(unquote(p)) for p in parts[1::2])


def _duration_ms(build: Mapping[str, Any]) -> int | None:
    value = build.get("duration")
    # A build longer than a year is a corrupt value, not a duration: ignore it rather than overflow.
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 366 * 86_400_000:
        return value
    return None


def build_times(build: Mapping[str, Any], phase: str) -> tuple[datetime, datetime | None, int | None]:
    """(start, end, duration ms) of the build. ``build.timestamp`` is the time of the phase, not of the build
    (notification-plugin ``JobListener``): STARTED sends the start, COMPLETED start + duration, FINALIZED the
    moment it is sent (after post-build steps), so the start of a finished build is timestamp − duration (for
    FINALIZED it is late by the post-build time, and the first phase stored keeps its start)."""
    moment = parse_time(require(build, "timestamp"), "build.timestamp")
    duration_ms = _duration_ms(build) if phase in {"COMPLETED", "FINALIZED"} else None
    if duration_ms is None:
        return moment, None, None
    started = moment - timedelta(milliseconds=duration_ms)
    return started, started + timedelta(milliseconds=duration_ms), duration_ms


def parse_build(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """STARTED → in_progress; COMPLETED / FINALIZED → the build's result with its duration."""
    short_name = require_str(payload, "name")
    job = job_full_name(payload)
    build = require(payload, "build")
    number = require(build, "number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ParseError("field 'build.number' must be an integer")
    phase = require_str(build, "phase")
    started, ended, duration_ms = build_times(build, phase)
    status, duration = "in_progress", None
    if phase in {"COMPLETED", "FINALIZED"}:
        result = require_str(build, "status")
        status = RESULT.get(result, result.lower()[:20])
        duration = duration_ms // 1000 if duration_ms is not None else None
    scm = build.get("scm") if isinstance(build.get("scm"), Mapping) else {}
    repository = repository_from_url(str(scm.get("url") or ""))
    sha = commit_sha(scm.get("commit"))
    branch = str(scm.get("branch") or "")
    params = build.get("parameters") if isinstance(build.get("parameters"), Mapping) else {}
    culprits: list[Any] = scm["culprits"] if isinstance(scm.get("culprits"), list) else []
    url = str(build.get("full_url") or "")
    return [
        ChangeRecord(
            source="jenkins",
            external_id=f"{job}#{number}",
            kind="ci",
            occurred_at=started,
            ended_at=ended,
            summary=f"Jenkins {job if job != short_name else payload.get('display_name') or job} #{number}: {status.replace('_', ' ')}"
            + (f" ({sha[:7]} on {branch})" if sha else ""),
            service=ServiceHint(
                repository=repository,
                env=str(params.get("ENVIRONMENT") or ""),
                keys=(("jenkins_job", job),) + ((("jenkins_job", short_name),) if short_name != job else ()),
            ),
            actor=", ".join(str(c) for c in culprits[:3]),
            status=status,
            severity="warning" if status == "failed" else "info",
            details={
                "job": job,
                "number": number,
                "phase": phase,
                "_order": [PHASE_ORDER.get(phase, 0)],  # the plugin posts asynchronously: STARTED may come late
                "result": build.get("status"),
                "branch": branch,
                "scm_url": public_url(str(scm.get("url") or ""))[:500],  # its host: where the commit is linked
                "duration_seconds": duration,
                "parameters": {str(k): str(v)[:200] for k, v in list(params.items())[:30]},
                "files": [str(f) for f in (scm.get("changes") or [])][:50]
                if isinstance(scm.get("changes"), list)
                else [],
            },
            links=({"title": f"Build #{number}", "url": url},) if url else (),
            commit_sha=sha,
            repository=repository,
        )
    ]


class JenkinsIntegration(Integration):
    slug = "jenkins"
    label = "Jenkins"
    emits = ("changes",)
    config_fields = (
        ConfigField(
            "token",
            "Shared secret",
            secret=True,
            hashed=True,
            required=True,
            help="Put it in the notification URL as https://jenkins:<secret>@host/... (HTTP Basic).",
        ),
    )
    parsers = {"STARTED": parse_build, "COMPLETED": parse_build, "FINALIZED": parse_build}
    #: QUEUED comes with STARTED at the start of a build and says nothing more
    ignored_events = frozenset({"QUEUED"})
    setup_instructions = (
        "Install the Notification plugin. In the job: Job Notifications → Add Endpoint. Format JSON, Protocol "
        "HTTP, Event 'All Events', URL https://jenkins:<secret>@<this host><webhook path> (the secret goes in "
        "the URL; Jenkins sends it as HTTP Basic auth). Map jobs to services with Service.repository (from the "
        "build's Git URL) or a ServiceAlias with key 'jenkins_job' (the job's full name, e.g. "
        "'acme/checkout-api/main' for a multibranch branch, or its short name). A build is identified by the job's "
        "full name and number; its start is the STARTED time (or the finished time minus the duration)."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        provided = headers.get("X-Changetrack-Token") or _basic_password(headers.get("Authorization"))
        if not secrets.matches("token", provided):
            raise VerificationError("missing or wrong shared secret (HTTP Basic password or X-Changetrack-Token)")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        return event_field(payload, "build", "phase", body="a JSON object (Notification plugin JSON format)")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        return f"jenkins:{job_full_name(payload)}#{require(payload, 'build', 'number')}:{require_str(payload, 'build', 'phase')}"
