"""The one error shape of the JSON API: ``{"detail": "message for a person"}``.

FastAPI's own request validation errors keep their list form (``detail: [...]``); errors raised by
our services (kuchikomi/errors.py) are one readable sentence, mapped to their status here once:
not found 404, forbidden 403, conflict 409, invalid 422, throttled 429.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.templating import error_page
from kuchikomi.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Throttled


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


# Each kind of domain error (kuchikomi/errors.py) and how it is answered: status, and the title of
# the Japanese error page. The most specific base class found in an error's MRO wins.
_DOMAIN_STATUS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (status.HTTP_404_NOT_FOUND, "見つかりません"),
    Forbidden: (status.HTTP_403_FORBIDDEN, "実行できません"),
    Conflict: (status.HTTP_409_CONFLICT, "実行できません"),
    Invalid: (status.HTTP_422_UNPROCESSABLE_CONTENT, "入力内容を確認してください"),
    Throttled: (status.HTTP_429_TOO_MANY_REQUESTS, "しばらくお待ちください"),
}


def domain_status(error: DomainError) -> tuple[int, str]:
    """The HTTP status and page title for a domain error (500 for a new kind nobody mapped)."""
    for cls in type(error).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR, "エラー"


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    """A service's error, answered once for every route: ``{"detail": message}`` under ``/api/``
    (and for the CSV export), the Japanese error page with ``message_ja`` elsewhere."""
    assert isinstance(exc, DomainError)
    code, title = domain_status(exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": exc.message}, status_code=code)
    return error_page(request, code, title, exc.message_ja)
