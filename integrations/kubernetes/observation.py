"""What the collector hands to translation (an ``Observation``), what translation returns (an ``Output``), and the
``Lookups`` into other stored objects that translation may ask for (implemented against the database by the
caller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from integrations.base import ChangeRecord, Record
from integrations.kubernetes import SOURCE
from integrations.kubernetes.health import HealthSignal, Identity
from integrations.kubernetes.identity import hint


class Lookups(Protocol):
    def owner_identity(self, namespace: str, kind: str, name: str) -> Identity | None: ...
    def referencing(self, namespace: str, ref: str, name: str) -> list[tuple[Identity, str, str]]: ...
    def hpa_desired(self, namespace: str, kind: str, name: str) -> int | None: ...
    def hosts(self, namespace: str, host: str, path: str) -> list[tuple[Identity, str]]: ...
    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def pod_identity(self, namespace: str, name: str) -> Identity | None: ...
    def services_on_node(self, node: str) -> list[Identity]: ...
    def repository(self, identity: Identity) -> str: ...


@dataclass(frozen=True)
class Observation:
    """``type`` ADDED/MODIFIED/DELETED; ``baseline`` marks the first ever sync (no history to diff against)."""

    type: str
    state: dict[str, Any]
    observed_at: datetime
    baseline: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"type": self.type, "state": self.state, "at": self.observed_at.isoformat(), "baseline": self.baseline}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Observation:
        return cls(data["type"], data["state"], datetime.fromisoformat(data["at"]), bool(data.get("baseline")))


@dataclass
class Output:
    records: list[Record] = field(default_factory=list)
    signals: list[HealthSignal] = field(default_factory=list)
    state: dict[str, Any] | None = None  # None: forget the object


def when(at: str, fallback: datetime) -> datetime:
    """The time a managed-fields entry reports, never later than when we observed the object."""
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return parsed if parsed <= fallback else fallback


def plain_change(
    ident: Identity,
    external_id: str,
    kind: str,
    summary: str,
    *,
    actor: tuple[str, str],
    observed_at: datetime,
    diff: list[dict[str, Any]],
) -> ChangeRecord:
    """A change with no rollout, replicas or details: ``actor`` is the (who, when) pair of ``diff.actor_for``."""
    who, at = actor
    return ChangeRecord(
        source=SOURCE,
        external_id=external_id,
        kind=kind,
        occurred_at=when(at, observed_at),
        summary=summary,
        service=hint(ident),
        actor=who,
        diff=tuple(diff),
    )
