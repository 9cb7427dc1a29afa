"""Property-based fuzz of the whole OpenAPI description: no input answers 5xx.

Schemathesis turns every operation of ``/openapi.json`` into a Hypothesis strategy, valid
(``positive``) and deliberately invalid (``negative``) requests alike; each is sent over real HTTP
to the app under uvicorn with an admin's bearer token, on SQLite and on PostgreSQL. The run is
bounded (a few examples per operation and mode) and deterministic (``derandomize``), so a failure
reproduces; the server's log, with the traceback, is part of the failure message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy.orm import Session

from kuchikomi.services.accounts import create_token, create_user
from models import Burst
from tests.api.factories import make_clinic, make_review
from tests.live_app import running_app, server_log

EXAMPLES_PER_OPERATION = 12


def _seed(session: Session) -> str:
    """A few real rows, so that generated small ids reach past "not found"; returns a token."""
    admin = create_user(
        session=session, email="fuzz-admin@example.jp", role="admin", password="x" * 12
    )
    token = create_token(session=session, user=admin)
    session.commit()
    clinic = make_clinic(session, listings=2)
    for i in range(3):
        make_review(session, clinic.listings[0], probability=0.3 * i, category="insult")
    session.add(
        Burst(
            clinic_id=clinic.id,
            kind="volume",
            start=datetime(2025, 3, 1, tzinfo=UTC),
            end=datetime(2025, 3, 3, tzinfo=UTC),
            observed=5,
            expected=1,
            score=4,
            harmful_share=0.2,
            alarm_at=datetime(2025, 3, 3, tzinfo=UTC),
            details={"clinic_ids": [clinic.id]},
        )
    )
    session.commit()
    return token


@pytest.mark.slow  # a uvicorn server and a few hundred requests
def test_no_operation_answers_5xx(db_url: str, session: Session, env: Path) -> None:
    token = _seed(session)
    headers = {"Authorization": f"Bearer {token}"}
    with running_app(db_url, env) as base:
        spec = httpx.get(f"{base}/openapi.json", headers=headers).json()
        schema = schemathesis.openapi.from_dict(spec)
        failures: list[str] = []
        sent = 0
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10  # every JSON route is described

        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def send(case: Any) -> None:
                    nonlocal sent
                    sent += 1
                    response = case.call(base_url=base, headers=headers, timeout=30)
                    if response.status_code >= 500:
                        failures.append(
                            f"{case.method} {case.formatted_path} query={case.query!r} "
                            f"body={getattr(case, 'body', None)!r} -> {response.status_code}"
                        )

                try:
                    send()
                except Unsatisfiable:
                    # Nothing to make invalid (an operation without parameters or body).
                    assert mode is GenerationMode.NEGATIVE, operation.label

    assert sent >= len(operations) * EXAMPLES_PER_OPERATION  # the fuzz really ran
    assert not failures, "\n".join(failures[:20]) + "\n\n" + server_log(env)[-6000:]
