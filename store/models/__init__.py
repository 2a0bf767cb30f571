"""The domain model of the purchase-of-services lifecycle as SQLAlchemy 2 typed tables, one module per
aggregate; every model and its vocabulary is re-exported here (``from store.models import Project``).

Money is integer fen (exact on SQLite too), datetimes are aware UTC, and every rule the data must
obey that a database can check is declared here: unique natural keys, foreign keys, CHECKs.
"""

from store.models.applications import APPLICATION_STATUSES, BUDGET_LINE_KINDS, Application, BudgetLine
from store.models.base import Base
from store.models.catalog import Budget, Call, CallItem, CatalogItem, Department, District
from store.models.conversations import ButtonToken, ChannelUpdate, Conversation, HandledIncoming, TurnReply
from store.models.experts import EXPERT_FIELDS, Expert, ExpertConflict, ExpertUnavailability
from store.models.identities import LOCALES, ROLES, Identity, Invite, WebSession
from store.models.operations import AuditEntry, Lease
from store.models.organizations import ORG_KINDS, RATINGS, Organization, Qualification
from store.models.outbox import OUTBOX_STATES, OutboxMessage
from store.models.projects import (
    GRADES,
    INSPECTION_KINDS,
    INSPECTION_RESULTS,
    MILESTONE_KINDS,
    PROJECT_STATUSES,
    Disbursement,
    Inspection,
    Milestone,
    ProgressUpdate,
    Project,
)
from store.models.review import (
    COMMITTEE_STATES,
    EXCLUSION_REASONS,
    MEMBER_STATES,
    REVIEW_STAGES,
    PublicNotice,
    ReviewCommittee,
    ReviewExclusion,
    ReviewMember,
    ReviewScore,
    ReviewSheet,
    ReviewSubject,
)
from store.models.surveys import Survey, SurveyAnswer, SurveyInvitation, SurveyResponse
from store.models.voice import (
    NEED_STATES,
    TICKET_KINDS,
    TICKET_STATES,
    Need,
    SubmissionCount,
    Ticket,
    TicketEvent,
)

__all__ = [
    "APPLICATION_STATUSES", "BUDGET_LINE_KINDS", "COMMITTEE_STATES", "EXCLUSION_REASONS", "EXPERT_FIELDS",
    "GRADES", "INSPECTION_KINDS", "INSPECTION_RESULTS", "LOCALES", "MEMBER_STATES", "MILESTONE_KINDS",
    "NEED_STATES", "ORG_KINDS", "OUTBOX_STATES", "PROJECT_STATUSES", "RATINGS", "REVIEW_STAGES", "ROLES",
    "TICKET_KINDS", "TICKET_STATES", "Application", "AuditEntry", "Base", "Budget", "BudgetLine", "ButtonToken",
    "Call", "CallItem", "CatalogItem", "ChannelUpdate", "Conversation", "Department", "Disbursement",
    "District", "Expert", "ExpertConflict", "ExpertUnavailability", "HandledIncoming", "Identity", "Inspection",
    "Invite", "Lease", "Milestone", "Need", "Organization", "OutboxMessage", "ProgressUpdate", "Project",
    "PublicNotice", "Qualification", "ReviewCommittee", "ReviewExclusion", "ReviewMember", "ReviewScore",
    "ReviewSheet", "ReviewSubject", "SubmissionCount", "Survey", "SurveyAnswer", "SurveyInvitation",
    "SurveyResponse", "Ticket", "TicketEvent", "TurnReply", "WebSession",
]
