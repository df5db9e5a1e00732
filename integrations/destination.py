"""The contract of push destinations (Slack, outgoing webhooks): what an alert notice holds, and the base class.

A destination is a translator too: an ``AlertNotice`` (plain data, built by ``changetrack.notify.content``) in,
the vendor's message out. Sending, retries, rate limits and storage live in ``changetrack.notify``: one outbound
sender for every destination. Destinations receive no webhooks through the receiver (Slack's button clicks have
their own endpoint, see ``changetrack.notify.interactivity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

from integrations.base import Integration, ParseError, VerificationError


@dataclass(frozen=True)
class SuspectNotice:
    """One ranked suspect as a message shows it. ``verdict`` (caused / unrelated) and ``verdict_by`` come from
    the responder's feedback, if any."""

    rank: int
    change_id: int
    summary: str
    kind: str
    service: str
    path: tuple[str, ...]
    minutes_before: float
    score: float
    reasons: tuple[str, ...]
    url: str
    verdict: str = ""
    verdict_by: str = ""


@dataclass(frozen=True)
class AlertNotice:
    """An alert and its top suspects, as every destination receives them. ``suspects`` holds only those that
    stand out (an empty tuple: no change stands out); ``suspect_count`` how many are ranked in all."""

    alert_id: int
    title: str
    severity: str
    status: str
    service: str
    started_at: datetime
    resolved_at: datetime | None
    url: str
    suspects_url: str
    suspects: tuple[SuspectNotice, ...]
    suspect_count: int
    incident_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The notice as JSON-ready data (times in RFC 3339): the outgoing webhook's body and the digest input."""
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["resolved_at"] = self.resolved_at.isoformat() if self.resolved_at else None
        out["suspects"] = [{**s, "path": list(s["path"]), "reasons": list(s["reasons"])} for s in out["suspects"]]
        return out


@dataclass(frozen=True)
class ChangeNotice:
    """A change as destinations that mark changes (Grafana annotations) receive it; built by
    ``changetrack.notify.annotations``. ``service`` is the service's name ("" when unmapped), ``url`` the change's
    page; ``ended_at`` is set for ranged changes (a rollout, a CI run)."""

    change_id: int
    kind: str
    summary: str
    source: str
    service: str
    namespace: str
    cluster: str
    team: str
    started_at: datetime
    ended_at: datetime | None
    url: str

    def tags(self) -> list[str]:
        """``changetrack``, then ``service:``, ``kind:``, ``cluster:``, ``namespace:``, ``team:``, ``source:`` for
        what is known: the tags a Grafana annotation query filters on."""
        pairs = (
            ("service", self.service),
            ("kind", self.kind),
            ("cluster", self.cluster),
            ("namespace", self.namespace),
            ("team", self.team),
            ("source", self.source),
        )
        return ["changetrack", *(f"{k}:{v}" for k, v in pairs if v)]


class Destination(Integration):
    """Base class of push destinations. Subclasses set ``slug``, ``label``, ``config_fields``,
    ``setup_instructions``; the sender reads ``target_field`` (the config field naming where messages go by
    default: a Slack channel, a URL)."""

    pushes: ClassVar[bool] = True
    #: whether it announces alerts (routing rules, one ``Notification`` per alert); a destination that marks
    #: changes instead (Grafana annotations) sets False
    notices: ClassVar[bool] = True
    target_field: ClassVar[str] = ""
    #: what the connection's own URL is for, as ``create_connection`` prints it (empty: it has no use)
    url_label: ClassVar[str] = ""

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        """A destination takes no deliveries through the webhook receiver: always ``VerificationError``."""
        raise VerificationError(f"{self.label} connections send messages; they receive no webhooks here")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        raise ParseError(f"{self.label} connections receive no webhooks here")
