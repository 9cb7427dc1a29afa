"""``/healthz``: is the database reachable and migrated? For load balancers and monitoring."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: str


@router.get(
    "/healthz",
    response_model=Health,
    summary="Database reachable and migrated",
    responses={503: {"model": Health}},
)
def healthz(session: SessionDep) -> Health | JSONResponse:
    try:
        # alembic_version exists only once `kuchikomi db upgrade` ran.
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # noqa: BLE001 - any driver error means "not healthy"
        session.rollback()
        body = Health(status="error", database=f"{type(exc).__name__}: unavailable or not migrated")
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    if revision is None:
        body = Health(status="error", database="no schema; run `kuchikomi db upgrade`")
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Health(status="ok", database=f"revision {revision}")
