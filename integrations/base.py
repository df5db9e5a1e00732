"""The integration contract and the records integrations produce.

Integrations touch no ORM, no Celery and no network in ``verify``/``parse``: storage, dedupe and correlation
live in ``changetrack``. Records are frozen dataclasses; ``(source, external_id)`` is the idempotency key.
Pull sources also implement ``poll()`` (see "The polling contract" below): network only, through the session the
runner (``changetrack.collect.polling``) gives them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol

import requests

from integrations import jsonsafety

#: The change kinds of the API contract, in its order. ``changetrack.models.ChangeKind`` (the database choices) is
#: built from this tuple, so the two cannot disagree.
CHANGE_KINDS: tuple[str, ...] = (
    "deploy",
    "rollback",
    "config",
    "secret",
    "feature_flag",
    "scale",
    "autoscale",
    "ci",
    "commit",
    "infra",
    "db_migration",
    "custom",
)


class VerificationError(Exception):
    """The request is not from the configured sender (bad or missing signature/secret): answered 401."""


class ParseError(Exception):
    """The payload is not what the vendor documents (missing key, wrong type): answered 400."""


class UnsupportedEvent(Exception):
    """A well-formed event we do not turn into records: stored as ignored, answered 202."""


@dataclass(frozen=True)
class ServiceHint:
    """What a source knows about the service a record belongs to. Every field is optional.

    ``keys`` carries extra (key, value) pairs matched against ``ServiceAlias`` rules, e.g.
    (("flag_tag", "checkout"), ("pagerduty_service", "checkout-api"))."""

    name: str = ""
    namespace: str = ""
    cluster: str = ""
    env: str = ""
    repository: str = ""
    workload_kind: str = ""
    keys: tuple[tuple[str, str], ...] = ()
    create: bool = False  # the source is authoritative (Kubernetes, API): create the service if missing

    @classmethod
    def from_path(cls, text: str, *, create: bool = False) -> ServiceHint:
        """``"checkout"``, ``"shop/checkout"`` (namespace/name) or ``"prod-us/shop/checkout"``
        (cluster/namespace/name), the way ``kubectl`` names objects; a Kubernetes name never holds a slash.

        Raises ``ValueError`` with a readable message when there are more parts or the name is empty."""
        parts = [part.strip() for part in text.strip().split("/")]
        if len(parts) > 3:
            raise ValueError("A service path is name, namespace/name or cluster/namespace/name.")
        name, namespace, cluster = ([*reversed(parts), "", ""])[:3]
        if not name:
            raise ValueError("A service name is required.")
        return cls(name=name, namespace=namespace, cluster=cluster, create=create)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("name", self.name),
                ("namespace", self.namespace),
                ("cluster", self.cluster),
                ("env", self.env),
                ("repository", self.repository),
                ("workload_kind", self.workload_kind),
            )
            if v
        }
        if self.keys:
            out["keys"] = [list(kv) for kv in self.keys]
        return out


@dataclass(frozen=True)
class ChangeRecord:
    """A change, normalised. ``diff`` is a list of {path, before, after[, redacted]}."""

    source: str
    external_id: str
    kind: str
    occurred_at: datetime
    summary: str
    service: ServiceHint
    actor: str = ""
    severity: str = "info"
    status: str = ""
    ended_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    diff: tuple[Mapping[str, Any], ...] = ()
    links: tuple[Mapping[str, str], ...] = ()
    commit_sha: str = ""
    repository: str = ""


@dataclass(frozen=True)
class AlertRecord:
    """One event in an alert's lifecycle. ``status``: triggered, acknowledged or resolved. ``retrigger`` marks
    a repeat within an open cycle (Datadog Re-Triggered) so it is counted."""

    source: str
    external_id: str
    title: str
    status: str
    occurred_at: datetime
    service: ServiceHint
    severity: str = "error"
    started_at: datetime | None = None
    retrigger: bool = False
    event_id: str = ""
    labels: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Mapping[str, str], ...] = ()
    url: str = ""


@dataclass(frozen=True)
class DependencyRecord:
    """``service`` depends on ``depends_on``; ``provenance`` is declared, kubernetes, learned or traces. Edges
    read from traces carry the ``calls`` and ``errors`` counted over the source's window and the
    ``connection_type`` it names ("" for a plain call, "database", "messaging_system", ...)."""

    service: ServiceHint
    depends_on: ServiceHint
    provenance: str
    evidence: str = ""
    confidence: float = 1.0
    calls: int | None = None
    errors: int | None = None
    connection_type: str = ""


Record = ChangeRecord | AlertRecord | DependencyRecord


@dataclass(frozen=True)
class ConfigField:
    """A field of a connection's setup form. ``secret`` fields are never shown back; ``hashed`` secrets are
    only compared (stored as a hash), the others are needed in clear (HMAC keys, API tokens)."""

    name: str
    label: str
    secret: bool = False
    hashed: bool = False
    required: bool = False
    help: str = ""


class Integration:
    """Base class of every integration. Subclasses set the class attributes and implement the hooks; a pull
    source also overrides ``poll()`` (and ``poll_ready()`` / ``poll_interval``)."""

    slug: ClassVar[str]
    label: ClassVar[str]
    emits: ClassVar[tuple[str, ...]] = ()
    config_fields: ClassVar[tuple[ConfigField, ...]] = ()
    #: vendor event type → parser; parsers take (payload, config) and return records
    parsers: ClassVar[Mapping[str, Callable[..., list[Record]]]] = {}
    #: event types that are well-formed but deliberately produce nothing (e.g. ``ping``)
    ignored_events: ClassVar[frozenset[str]] = frozenset()
    #: paths under the connection's webhook URL that reach the same receiver, for vendor clients that take a base
    #: URL and append their own path (PagerDuty's clients append ``v2/change/enqueue``)
    webhook_subpaths: ClassVar[frozenset[str]] = frozenset()
    setup_instructions: ClassVar[str] = ""
    #: how often the runner polls a connection of a pull source (a rate limit can push the next poll later)
    poll_interval: ClassVar[timedelta] = timedelta(minutes=5)

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        """Raise ``VerificationError`` unless the request carries the connection's secret or signature.

        ``headers`` is case-insensitive; ``raw_body`` the exact bytes received; ``secrets`` a SecretStore."""
        raise NotImplementedError

    def verify_request(
        self, headers: Mapping[str, str], raw_body: bytes, secrets: Any, config: Mapping[str, Any]
    ) -> None:
        """What the receiver calls: ``verify`` with the connection's ``config`` too, for vendors whose check
        depends on a setting (the header AWS EventBridge sends its API key in). Default: ``verify``."""
        self.verify(headers, raw_body, secrets)

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        """The vendor event type of this delivery (a header or a payload field). Raises ``ParseError``."""
        raise NotImplementedError

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        """A key that is the same for retries of one delivery. Default: SHA-256 of the body."""
        return hashlib.sha256(raw_body).hexdigest()

    def decode_body(self, headers: Mapping[str, str], raw_body: bytes) -> Any:
        """The payload of a delivery's body: JSON (``parse_json``) unless the vendor can send another encoding.
        Raises ``ParseError``. An override must also make ``storable_body`` return the payload as JSON: the
        pipeline reads stored bodies with ``parse_json``."""
        return parse_json(raw_body)

    def storable_body(self, raw_body: bytes, payload: Any) -> bytes:
        """The body as stored with the delivery (and parsed again by the pipeline). Default: unchanged.

        Credentials are already hashed out of ``raw_body`` and ``payload`` by the one scrubber
        (``integrations.scrub``, applied by the receiver); override to drop what it cannot know is one (PagerDuty
        Change Events' ``routing_key``). The result must still parse to the same records."""
        return raw_body

    def parse(self, event_type: str, payload: Any, config: Mapping[str, Any] | None = None) -> list[Record]:
        """Turn one delivery into records. Ignored events return ``[]``; unknown events raise
        ``UnsupportedEvent``; a payload missing a required key raises ``ParseError``."""
        if event_type in self.ignored_events:
            return []
        parser = self.parsers.get(event_type)
        if parser is None:
            raise UnsupportedEvent(f"{self.slug} event {event_type!r} is not supported")
        return parser(payload, config or {})

    @property
    def can_poll(self) -> bool:
        """True for a pull source (the class overrides ``poll``)."""
        return type(self).poll is not Integration.poll

    def poll_ready(self, config: Mapping[str, Any], secrets: Secrets) -> bool:
        """Whether this connection is set up for polling (has its API token, query...). Default: yes."""
        return True

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """Read what is new since ``state`` and yield it as one or more steps (a page, a repository).

        In: the connection's ``config`` (plus what the runner adds, e.g. GitHub's repository list), its decrypted
        ``secrets``, the ``state`` the last step saved (``{}`` the first time), ``now`` and the ``session`` every
        HTTP request goes through (it retries connection errors and 5xx; it never sleeps on a 429).
        Out: each ``PollResult`` holds records and the whole state to save once they are stored, so a run
        killed between steps resumes from the last one. No ORM, no Celery, no sleeping.
        Raises ``RateLimited`` (come back at ``resume_after``; steps already yielded stand) or ``PollError``
        (a failure a retry soon would not fix: bad credentials, an unexpected answer)."""
        raise NotImplementedError


# --- the polling contract -----------------------------------------------------------------------------------


class Secrets(Protocol):
    """A connection's decrypted secrets by name (``changetrack.models.SecretStore`` is one)."""

    def get(self, name: str) -> str | None: ...


class PollSession(requests.Session):
    """The session a poll makes its requests through: the runner mounts its retry policy on it; ``timeout``
    applies to every request that sets none (requests has no default, and a silent server must end a poll)."""

    def __init__(self, timeout: float = 15.0) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)

    @property
    def retry(self) -> Any:
        """The urllib3 ``Retry`` mounted for HTTPS, for clients that build their own session (PyGithub)."""
        return self.get_adapter("https://").max_retries  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PollResult:
    """One step of a poll. ``state`` is the whole state to save after ``records`` are stored;
    ``next_poll_after`` asks the runner not to come back before then (None: the usual interval); ``error`` is a
    problem that did not stop the run (one unknown repository); ``skipped`` names items left out as unreadable."""

    records: Sequence[Record]
    state: Mapping[str, Any]
    next_poll_after: datetime | None = None
    error: str = ""
    skipped: tuple[str, ...] = ()


class RateLimited(Exception):
    """The source asked us to wait, or is down: nothing more makes sense before ``resume_after``."""

    def __init__(self, resume_after: datetime, reason: str):
        super().__init__(reason)
        self.resume_after = resume_after
        self.reason = reason


class PollError(Exception):
    """The source answered in a way a retry soon would not fix (rejected credentials, a 4xx, a body we cannot
    read): the run stops, the state stays where the last step left it, and the error is shown on the connection."""


#: how long to stay away from a source that is down or gave no hint about when to come back
TRANSIENT_PAUSE = timedelta(minutes=1)


def resume_after(headers: Mapping[str, str], now: datetime) -> datetime:
    """When a rate-limited client may come back, from the answer's headers (case-insensitive ``headers``).

    ``Retry-After`` (seconds or an HTTP date) first, then ``X-RateLimit-Reset``, whose meaning vendors differ on:
    epoch milliseconds (LaunchDarkly), epoch seconds (GitHub) or seconds until the window resets (Datadog); the
    magnitude tells them apart. Neither header: ``now + TRANSIENT_PAUSE``."""
    lowered = {k.lower(): str(v).strip() for k, v in headers.items()}
    retry = lowered.get("retry-after", "")
    if retry.isdigit():
        return now + timedelta(seconds=int(retry))
    if retry:
        try:
            return max(now, parsedate_to_datetime(retry).astimezone(timezone.utc))
        except (TypeError, ValueError):
            pass
    reset = lowered.get("x-ratelimit-reset", "")
    try:
        number = float(reset)
    except ValueError:
        return now + TRANSIENT_PAUSE
    if number > 1e11:
        return max(now, datetime.fromtimestamp(number / 1000, timezone.utc))
    if number > 1e9:  # whole epoch seconds: one more makes sure the window has reset
        return max(now, datetime.fromtimestamp(number, timezone.utc)) + timedelta(seconds=1)
    return now + timedelta(seconds=max(1.0, number))


def get_json(
    session: requests.Session,
    url: str,
    *,
    now: datetime,
    label: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET ``url`` through the runner's session and decode the JSON body through the JSON-safety check.

    Raises ``RateLimited`` on a 429 (when to come back, from the headers) and on a 5xx the session's retries did
    not cure (``TRANSIENT_PAUSE``); ``PollError`` on any other non-200 answer or a body that is not JSON or that
    the JSON-safety check refuses (``answer_json``).
    Connection errors and timeouts propagate as ``requests.RequestException`` (the runner pauses the source)."""
    return read_json(session.get(url, params=params, headers=headers), now=now, label=label, url=url)


def read_json(response: requests.Response, *, now: datetime, label: str, url: str) -> Any:
    """The JSON body of a 200 answer; ``RateLimited`` for a 429 or a 5xx, ``PollError`` otherwise (see ``get_json``).
    For a source that explains a refusal in its body: read that first, then hand the answer here."""
    if response.status_code == 429:
        raise RateLimited(resume_after(response.headers, now), f"{label} rate limited (429)")
    if response.status_code >= 500:
        raise RateLimited(now + TRANSIENT_PAUSE, f"{label} answered {response.status_code} after retries")
    if response.status_code != 200:
        raise PollError(f"{label} answered {response.status_code} for {url}")
    return answer_json(response, label=label, url=url)


def answer_json(response: requests.Response, *, label: str, url: str) -> Any:
    """The body of a source's answer decoded as a webhook body is (``parse_json``: the JSON-safety check, so a
    hostile or broken source's NaN, ``1e400`` or deep nesting is refused here rather than crashing the poll);
    ``PollError`` saying why for anything it refuses. A NUL or a lone surrogate in a string is left to the runner,
    which leaves out just the record holding it."""
    try:
        return parse_json(response.content, strings=False)
    except ParseError as exc:
        raise PollError(f"{label} answered with a body that cannot be read ({url}): {exc}"[:500]) from None


class PullSource(Integration):
    """Base class of pull-only sources (service graphs read from tracing backends): they take no webhooks, so
    ``verify`` always refuses and there is no event type; only ``poll()`` matters."""

    #: no webhook URL to give anyone (``create_connection`` and the connection page leave it out)
    url_label: ClassVar[str] = ""
    polled_only: ClassVar[bool] = True

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        """A pull source takes no deliveries through the webhook receiver: always ``VerificationError``."""
        raise VerificationError(f"{self.label} connections are polled; they receive no webhooks")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        raise ParseError(f"{self.label} connections receive no webhooks")


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> timedelta:
    """A Prometheus duration (``30m``, ``1h``, ``1h30m``, ``7d``) as a ``timedelta``; ``ValueError`` for anything
    else (a bad value would otherwise end up inside a PromQL query). At most a year."""
    value = text.strip()
    if not value or _DURATION.sub("", value):
        raise ValueError(f"{text[:40]!r} is not a duration such as 30m, 1h or 1h30m")
    seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION.findall(value))
    if not 0 < seconds <= _DURATION_UNITS["y"]:
        raise ValueError(f"{text[:40]!r} must be longer than 0 and at most a year")
    return timedelta(seconds=seconds)


# --- helpers shared by integrations ------------------------------------------------------------------------


def verify_hmac_sha256(secret: str | None, raw_body: bytes, provided_hex: str | None) -> None:
    """Constant-time check of a hex HMAC-SHA256 of ``raw_body``; raises ``VerificationError``."""
    if not secret:
        raise VerificationError("this connection has no signing secret configured")
    if not provided_hex:
        raise VerificationError("signature header missing")
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), provided_hex.strip().lower().encode()):
        raise VerificationError("signature does not match the body")


def event_field(payload: Any, *path: str, body: str = "a JSON object") -> str:
    """The event type a vendor puts in its body at ``path``: ``ParseError`` unless the body is a JSON object
    (``body`` says which, in the error) with a non-empty string there."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"body must be {body}")
    return require_str(payload, *path)


def status_parser(build: Callable[..., list[Record]], status: str, **options: Any) -> Callable[..., list[Record]]:
    """The parser of vendor events that differ only by the alert status they report: ``build(payload, status,
    **options)``, with no use for the connection's config."""

    def parse(payload: Any, config: Mapping[str, Any]) -> list[Record]:
        return build(payload, status, **options)

    parse.__doc__ = f"``{build.__name__}`` of a {status} alert."
    return parse


def require(mapping: Any, *path: str | int) -> Any:
    """``mapping[path[0]][path[1]]...`` or ``ParseError`` naming the missing key (strict reads)."""
    current = mapping
    walked: list[str] = []
    for key in path:
        walked.append(str(key))
        try:
            current = current[key]
        except (KeyError, IndexError, TypeError):
            raise ParseError(f"missing required field {'.'.join(walked)!r}") from None
    return current


def require_str(mapping: Any, *path: str | int) -> str:
    value = require(mapping, *path)
    if not isinstance(value, str) or not value:
        raise ParseError(f"field {'.'.join(map(str, path))!r} must be a non-empty string")
    return value


def parse_time(value: Any, field_name: str = "timestamp") -> datetime:
    """RFC 3339 / ISO 8601 with offset, or epoch seconds/milliseconds (numbers or digit strings)."""
    if isinstance(value, bool):
        raise ParseError(f"field {field_name!r} is not a time")
    # isascii: str.isdigit() is also true for "²" and other digits float() refuses
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    ):
        try:
            number = float(value)  # an int beyond float range raises OverflowError
            if number > 1e17:  # nanoseconds (Opsgenie updatedAt)
                number /= 1e9
            elif number > 1e11:  # milliseconds
                number /= 1e3
            moment = datetime.fromtimestamp(number, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"field {field_name!r} is out of range") from None
        return in_range(moment, field_name)
    if not isinstance(value, str):
        raise ParseError(f"field {field_name!r} is not a time")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # +0000 → +00:00 (PagerDuty change events)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"field {field_name!r} is not an RFC 3339 time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise ParseError(f"field {field_name!r} has no UTC offset: {value[:64]!r}")
    try:
        return in_range(parsed.astimezone(timezone.utc), field_name)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ParseError(f"field {field_name!r} is out of range: {value[:64]!r}") from None


#: Times outside this span are corrupt input, not events; refusing them keeps window arithmetic
#: (alert time ± correlation window) from overflowing anywhere downstream.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


def in_range(moment: datetime, field_name: str = "timestamp") -> datetime:
    """``moment`` if it lies in [1970, 2200), else ``ParseError``."""
    if not EARLIEST <= moment < LATEST:
        raise ParseError(f"field {field_name!r} is outside 1970-01-01 .. 2199-12-31: {moment.isoformat()}")
    return moment


def parse_json(raw_body: bytes, *, strings: bool = True) -> Any:
    """Decode a JSON body or raise ``ParseError``: invalid UTF-8, invalid JSON, and whatever the JSON-safety
    check refuses (``integrations.jsonsafety``: NUL, lone surrogates, NaN/Infinity, ``1e400``, deep nesting;
    ``strings=False``: not NUL and lone surrogates, see ``jsonsafety.loads``)."""
    try:
        return jsonsafety.loads(raw_body.decode("utf-8"), strings=strings)
    except UnicodeDecodeError:
        raise ParseError("body is not valid UTF-8") from None
    except RecursionError:
        raise ParseError("body: is nested too deeply") from None
    except jsonsafety.UnsafeJSON as exc:
        raise ParseError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:  # an integer literal over sys.get_int_max_str_digits() digits
        raise ParseError("body has a number too long to read") from None


def tags_to_dict(tags: Iterable[str]) -> dict[str, str]:
    """``["service:checkout", "env:prod", "monitor"]`` → ``{"service": "checkout", "env": "prod", "monitor": ""}``."""
    out: dict[str, str] = {}
    for tag in tags:
        key, _, value = tag.strip().partition(":")
        if key:
            out.setdefault(key, value)
    return out
