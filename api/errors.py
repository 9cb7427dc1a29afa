"""The one error shape of the JSON API: ``{"detail": "message for a person"}``.

FastAPI's own request validation errors keep their list form (``detail: [...]``); errors raised by
our services are one readable sentence.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorMessage(BaseModel):
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation for the error answers a route gives."""
    return {code: {"model": ErrorMessage} for code in codes}
