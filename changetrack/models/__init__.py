"""The data model, one module per concern. Import from here: ``from changetrack.models import Change``."""

from changetrack.models.alerts import Alert, Incident
from changetrack.models.audit import AuditEntry
from changetrack.models.changes import Change, ChangeKind, Severity
from changetrack.models.correlation import Feedback, Suspect, VerdictEvent
from changetrack.models.deliveries import Connection, Delivery, DeliveryKey
from changetrack.models.graph import Dependency, UnmappedEdge
from changetrack.models.health import HealthEpisode
from changetrack.models.identities import SSOIdentity
from changetrack.models.kubernetes import KubeObject
from changetrack.models.notify import Annotation, Interaction, Notification, RoutingRule
from changetrack.models.preferences import UserPreference
from changetrack.models.services import Cluster, Service, ServiceAlias
from changetrack.models.state import PollState, Watermark
from changetrack.models.tokens import ApiToken

__all__ = [
    "Alert",
    "Annotation",
    "ApiToken",
    "AuditEntry",
    "Change",
    "ChangeKind",
    "Cluster",
    "Connection",
    "Delivery",
    "DeliveryKey",
    "Dependency",
    "Feedback",
    "HealthEpisode",
    "Incident",
    "Interaction",
    "KubeObject",
    "Notification",
    "PollState",
    "RoutingRule",
    "Service",
    "SSOIdentity",
    "ServiceAlias",
    "Severity",
    "Suspect",
    "UnmappedEdge",
    "UserPreference",
    "VerdictEvent",
    "Watermark",
]
