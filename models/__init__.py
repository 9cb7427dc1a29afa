"""Tables and database access. Knows tables, not HTTP or text."""

from models import accounts, bursts, cases, evidence, notifications  # noqa: F401  (register tables)
from models.accounts import (
    ApiToken,
    AuditEntry,
    ClinicMembership,
    Decision,
    LoginAttempt,
    LoginSession,
    LoginThrottle,
    User,
)
from models.base import Base
from models.bursts import Burst, BurstReview
from models.cases import TakedownCase
from models.evidence import EvidenceBundleRecord
from models.notifications import NotificationDelivery, NotificationSubscription, NotifiedItem
from models.summaries import FlaggedReview, ListingReviewCount
from models.tables import (
    Classification,
    Clinic,
    CrawlRun,
    CrawlRunListing,
    EvidenceRecord,
    GoogleConnection,
    JobLock,
    Listing,
    Review,
    ReviewSighting,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Burst",
    "BurstReview",
    "Classification",
    "Clinic",
    "ClinicMembership",
    "CrawlRun",
    "CrawlRunListing",
    "Decision",
    "EvidenceBundleRecord",
    "EvidenceRecord",
    "FlaggedReview",
    "GoogleConnection",
    "JobLock",
    "Listing",
    "ListingReviewCount",
    "LoginAttempt",
    "LoginSession",
    "LoginThrottle",
    "NotificationDelivery",
    "NotificationSubscription",
    "NotifiedItem",
    "Review",
    "ReviewSighting",
    "TakedownCase",
    "User",
]
