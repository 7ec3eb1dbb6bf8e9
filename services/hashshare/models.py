"""Every table of the service, imported so that `Base.metadata` is complete (migrations)."""

from hashshare.audit.models import AuditEvent, AuditHead
from hashshare.changes.models import Change
from hashshare.db import Base
from hashshare.edgereports.models import EdgeReport
from hashshare.feedback.models import Feedback
from hashshare.hashes.models import Contribution, Hash
from hashshare.members.models import Member, TokenRevocation

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Base",
    "Change",
    "Contribution",
    "EdgeReport",
    "Feedback",
    "Hash",
    "Member",
    "TokenRevocation",
]
