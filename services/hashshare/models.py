"""Every table of the service, imported so that `Base.metadata` is complete (migrations)."""

from hashshare.audit.models import AuditEvent
from hashshare.changes.models import Change
from hashshare.db import Base
from hashshare.hashes.models import Contribution, Hash
from hashshare.members.models import Member

__all__ = ["AuditEvent", "Base", "Change", "Contribution", "Hash", "Member"]
