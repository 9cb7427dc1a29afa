"""The one error shape of the JSON API: ``{"detail": "message for a person"}``.

FastAPI's own request validation errors keep their list form (``detail: [...]``); errors raised by
our services are one readable sentence.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel


class ErrorMessage(BaseModel):
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation for the error answers a route gives."""
    return {code: {"model": ErrorMessage} for code in codes}


class _AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a validation error echoes the input, and
    input may hold an unpaired surrogate (``"\\ud800"``), which cannot be written as UTF-8 but
    can be written as a JSON escape."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


async def request_validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 answer (``{"detail": [...]}``), safe for any input it echoes."""
    assert isinstance(exc, RequestValidationError)
    return _AsciiJSONResponse(
        {"detail": jsonable_encoder(exc.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
