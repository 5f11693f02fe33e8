"""Every model, imported in one place so metadata (and migrations) see them all."""

from crm.models.account_token import AccountToken, TokenPurpose
from crm.models.api_token import ApiToken, TokenScope
from crm.models.audit import AuditEvent
from crm.models.calendar_feed import CalendarFeed
from crm.models.contact import Contact, ContactRole
from crm.models.contact_attempt import AttemptMethod, ContactAttempt
from crm.models.contact_preference import ContactPreference
from crm.models.family import FamilyOptOut
from crm.models.geography import County, Region
from crm.models.grant import Grant, GrantReport, GrantStatus
from crm.models.held_post import HeldPost
from crm.models.holiday import Holiday, HolidayCalendar
from crm.models.imports import IMPORT_KINDS, ImportMapping, ImportUpload
from crm.models.inquiry import (
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    InquiryPass,
    InquirySource,
    PassReason,
)
from crm.models.interaction import Interaction, InteractionKind
from crm.models.open_load import contact_open_loads
from crm.models.organisation import Organisation, OrganisationKind, RecordStatus
from crm.models.outbox import EmailKind, EmailStatus, OutboundEmail
from crm.models.routing import RoutingRule, Topic
from crm.models.scheduled_job import ScheduledJob
from crm.models.second_factor import RecoveryCode, UserSecondFactor
from crm.models.user import Role, User
from crm.models.user_session import UserSession

__all__ = [
    "AccountToken",
    "ApiToken",
    "AttemptMethod",
    "AuditEvent",
    "CalendarFeed",
    "Contact",
    "ContactAttempt",
    "ContactPreference",
    "ContactRole",
    "County",
    "EmailKind",
    "EmailStatus",
    "FamilyOptOut",
    "Grant",
    "GrantReport",
    "GrantStatus",
    "HeldPost",
    "Holiday",
    "HolidayCalendar",
    "IMPORT_KINDS",
    "ImportMapping",
    "ImportUpload",
    "Inquiry",
    "InquiryEvent",
    "InquiryEventKind",
    "InquiryOutcome",
    "InquiryPass",
    "InquirySource",
    "Interaction",
    "InteractionKind",
    "Organisation",
    "OrganisationKind",
    "OutboundEmail",
    "PassReason",
    "RecordStatus",
    "RecoveryCode",
    "Region",
    "Role",
    "RoutingRule",
    "ScheduledJob",
    "TokenPurpose",
    "TokenScope",
    "Topic",
    "User",
    "UserSecondFactor",
    "UserSession",
    "contact_open_loads",
]
