"""A review date far in the future (stored before imports checked the range, or by any other
way in) cannot break the deadlines for anyone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from tests.api.casework import harmful_review
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic


def test_far_future_posting_dates_do_not_break_deadlines(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    clinic = make_clinic(session, name="遠未来医院")
    # 9999-12-31 as a date-only import stored it (midnight JST), and the last representable hour.
    harmful_review(session, clinic, posted_at=datetime(9999, 12, 30, 15, 0, tzinfo=UTC))
    harmful_review(session, clinic, posted_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC))

    for user in (
        login_as("admin"),
        login_as("reviewer"),
        login_as("clinic", clinic_ids=[clinic.id]),
    ):
        listed = user.get("/api/v1/deadlines")
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == []  # due beyond any horizon
        assert user.get("/deadlines").status_code == 200
