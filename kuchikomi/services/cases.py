"""Takedown cases: one per review, ``draft → sent → removed | refused | no_answer``.

Why each step matters: docs/domain.md.

Staff edit the draft, record when and where it was sent and what came of it. A removal is
*confirmed* only by the crawler: when a complete crawl after the request no longer shows the
review (``Review.removed_at``), :func:`confirm_removals` closes the case as removed, and reopens
it if the review comes back. Every change goes to the audit log in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kuchikomi.errors import Conflict, Invalid
from kuchikomi.japanese import JST
from kuchikomi.schemas import Day, Text
from kuchikomi.services.audit import record_audit
from kuchikomi.services.decisions import latest_decision
from kuchikomi.services.takedown.drafting import get_case, load_review
from kuchikomi.services.takedown.schemas import DraftEdit
from models import Review
from models.accounts import User
from models.cases import CaseStatus, TakedownCase

# Moves staff may make. "removed" is also reached by the crawler (confirm_removals); removed →
# sent lets staff correct a removal reported by mistake.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.draft: frozenset({CaseStatus.sent}),
    CaseStatus.sent: frozenset({CaseStatus.removed, CaseStatus.refused, CaseStatus.no_answer}),
    CaseStatus.no_answer: frozenset({CaseStatus.sent, CaseStatus.removed, CaseStatus.refused}),
    CaseStatus.refused: frozenset({CaseStatus.sent, CaseStatus.removed}),
    CaseStatus.removed: frozenset({CaseStatus.sent}),
}
# While a request is out (or done), its text is the record of what was sent: edit it only
# before sending, or to send again after a refusal or silence.
EDITABLE_IN = frozenset({CaseStatus.draft, CaseStatus.refused, CaseStatus.no_answer})

ROUTE_KEYS = ("platform_form", "letter", "ihaho", "moj", "police", "lawyer")
MAX_NOTE_CHARS = 2000

# The actor of changes made by the crawl pipeline rather than a person.
CRAWL_ACTOR = "system:crawl"


class CaseStateError(Conflict):
    """The change is not allowed in the case's current state (HTTP 409)."""

    message_ja = "現在の状態からは、その状態に変更できません。"


class CaseInputError(Invalid):
    """The change is malformed: a date in the future, an answer dated before sending (HTTP 422).

    ``message_ja`` says the same to the staff using the web form."""

    def __init__(self, message: str, message_ja: str) -> None:
        super().__init__(message, message_ja)


class CaseTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["sent", "removed", "refused", "no_answer"]
    # The day it happened (JST calendar day); today when omitted.
    on: Day | None = None
    # Where the request went (only with "sent").
    via: Literal["platform_form", "letter", "ihaho", "moj", "police", "lawyer"] | None = None
    note: Text | None = Field(default=None, max_length=MAX_NOTE_CHARS)


def today_jst(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(JST).date()


def _snapshot(case: TakedownCase | None) -> dict[str, Any] | None:
    if case is None:
        return None
    return {
        "review_id": case.review_id,
        "status": case.status,
        "sent_via": case.sent_via,
        "sent_on": case.sent_on.isoformat() if case.sent_on else None,
        "resolved_on": case.resolved_on.isoformat() if case.resolved_on else None,
        "removal_confirmed_at": (
            case.removal_confirmed_at.isoformat() if case.removal_confirmed_at else None
        ),
        "note": case.note,
        "draft": dict(case.draft or {}),
    }


def _audit(
    session: Session,
    *,
    user: User | None,
    action: str,
    case: TakedownCase,
    before: dict[str, Any] | None,
    actor: str | None = None,
) -> None:
    session.flush()
    record_audit(
        session=session,
        user=user,
        action=action,
        object_type="takedown_case",
        object_id=case.id,
        before=before,
        after=_snapshot(case),
        actor=actor,
    )


def _new_case(session: Session, review: Review) -> TakedownCase:
    case = TakedownCase(review_id=review.id, status=CaseStatus.draft.value, draft={})
    session.add(case)
    return case


def save_draft(
    *,
    session: Session,
    review_id: int,
    edit: DraftEdit,
    user: User | None,
    clinic_ids: list[int] | None = None,
    replace: bool = False,
) -> TakedownCase:
    """Store staff edits of the draft (opening the case if needed) and commit.

    The fields given are merged into the stored edits; with ``replace`` they become the stored
    edits (the form page sends every field and keeps only those that differ from the prefilled
    text, so that an untouched field keeps following the review and its confirmed category).

    Raises :class:`~kuchikomi.errors.ReviewNotFound` and
    :class:`CaseStateError` (a request that is out is not edited).
    """
    review = load_review(session, review_id, clinic_ids)
    existing = get_case(session=session, review_id=review.id)
    created = existing is None
    case = existing or _new_case(session, review)
    if CaseStatus(case.status) not in EDITABLE_IN:
        raise CaseStateError(
            f"the draft of a case in state {case.status!r} cannot be edited "
            "(record an answer first, or mark it sent again)"
        )
    before = None if created else _snapshot(case)
    # A new dict: in-place changes to a JSON column are not seen by the ORM.
    draft = edit.changes() if replace else {**(case.draft or {}), **edit.changes()}
    if draft == (case.draft or {}) and not created:
        return case
    case.draft = draft
    _audit(
        session,
        user=user,
        action="case.create" if created else "case.draft",
        case=case,
        before=before,
    )
    session.commit()
    return case


def send_blockers(*, session: Session, review_id: int) -> list[str]:
    """Why the review's request should not be recorded as sent yet (Japanese, for staff), or
    nothing: a request is sent only after a person judged the review harmful and a draft was
    saved. The web form refuses 送付済み until then; the JSON API records what a script reports
    (a request may have been sent by other means) and is not held to this.
    """
    reasons = []
    latest = latest_decision(session=session, review_id=review_id)
    if latest is None or latest.decision != "harmful":
        reasons.append(
            "担当者が「有害」と判断していません（口コミの詳細画面で判断を記録してください）。"
        )
    if get_case(session=session, review_id=review_id) is None:
        reasons.append("下書きがまだ保存されていません（「下書きを保存」を押してください）。")
    return reasons


def change_status(
    *,
    session: Session,
    review_id: int,
    change: CaseTransition,
    user: User | None,
    clinic_ids: list[int] | None = None,
    today: date | None = None,
) -> TakedownCase:
    """Move the case (opening it as a draft first when there is none) and commit.

    Raises ReviewNotFound, :class:`CaseStateError` for a move the current state does not
    allow and :class:`CaseInputError` for impossible dates. Everything is checked before anything
    is written.
    """
    today = today or today_jst()
    review = load_review(session, review_id, clinic_ids)
    existing = get_case(session=session, review_id=review.id)
    current = CaseStatus(existing.status) if existing is not None else CaseStatus.draft
    target = CaseStatus(change.status)
    if target not in TRANSITIONS[current]:
        raise CaseStateError(f"a case in state {current.value!r} cannot move to {target.value!r}")
    on = change.on or today
    if on > today:
        raise CaseInputError(
            f"the date {on.isoformat()} is in the future", "未来の日付は記録できません。"
        )
    if change.via is not None and target is not CaseStatus.sent:
        raise CaseInputError(
            "'via' is given only when the request is sent",
            "送付先は「送付済み」にするときだけ指定できます。",
        )
    sent_on = existing.sent_on if existing is not None else None
    if target is not CaseStatus.sent and sent_on is not None and on < sent_on:
        raise CaseInputError(
            f"the answer date {on.isoformat()} is before the request was sent "
            f"({sent_on.isoformat()})",
            "回答日が送付日より前になっています。",
        )

    created = existing is None
    case = existing or _new_case(session, review)
    before = None if created else _snapshot(case)
    case.status = target.value
    if target is CaseStatus.sent:
        case.sent_on = on
        case.sent_via = change.via
        case.resolved_on = None
        case.removal_confirmed_at = None
    else:
        case.resolved_on = on
    if change.note is not None:
        case.note = change.note
    _audit(session, user=user, action=f"case.{target.value}", case=case, before=before)
    session.commit()
    return case


def confirm_removals(*, session: Session) -> dict[str, list[int]]:
    """Close cases whose review a complete crawl no longer showed after the request was sent;
    reopen cases closed that way whose review is shown again. Commits; returns the review ids.

    Called by the crawl pipeline after every run (the crawler sets and clears
    ``Review.removed_at`` only on complete crawls, so this never acts on a partial view).
    """
    waiting = (CaseStatus.sent, CaseStatus.no_answer, CaseStatus.refused, CaseStatus.removed)
    cases = list(
        session.scalars(
            select(TakedownCase)
            .where(TakedownCase.status.in_([s.value for s in waiting]))
            .options(selectinload(TakedownCase.review))
            .order_by(TakedownCase.id)
        )
    )
    confirmed: list[int] = []
    reopened: list[int] = []
    for case in cases:
        review = case.review
        gone = review.removed_at
        if case.removal_confirmed_at is None:
            if gone is None or case.sent_on is None or today_jst(gone) < case.sent_on:
                # Not gone, or gone before the request (then the request did not do it).
                continue
            before = _snapshot(case)
            case.status = CaseStatus.removed.value
            case.removal_confirmed_at = gone
            if before is not None and before["status"] != CaseStatus.removed.value:
                case.resolved_on = today_jst(gone)
            _audit(
                session,
                user=None,
                action="case.removal_confirmed",
                case=case,
                before=before,
                actor=CRAWL_ACTOR,
            )
            confirmed.append(case.review_id)
        elif gone is None:
            # Shown again by a later complete crawl: the removal did not hold.
            before = _snapshot(case)
            case.status = CaseStatus.sent.value
            case.removal_confirmed_at = None
            case.resolved_on = None
            _audit(
                session,
                user=None,
                action="case.reappeared",
                case=case,
                before=before,
                actor=CRAWL_ACTOR,
            )
            reopened.append(case.review_id)
    session.commit()
    return {"confirmed": confirmed, "reopened": reopened}
