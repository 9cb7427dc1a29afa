"""The one hierarchy of errors the services raise (docs/architecture.md#the-error-model).

A service says *what* went wrong by the class it raises — :class:`NotFound`, :class:`Forbidden`,
:class:`Conflict`, :class:`Invalid` or :class:`Throttled` — and the entry points say it to a
person once: the API's exception handler (``api/errors.py``) answers 404, 403, 409, 422 or 429
with ``{"detail": message}`` (a Japanese error page on the web UI, with ``message_ja``), and the
CLI (``kuchikomi/cli/common.py``) prints the message and exits with the documented code. No
router or command catches a service's error only to translate it.

The message (``str(error)``) is English, for scripts and logs; ``message_ja`` is what the web UI
shows staff. Each base class also derives from the built-in error it refines (``LookupError``,
``ValueError``), so code that catches those still does.
"""

from __future__ import annotations


class DomainError(Exception):
    """Something a person asked for cannot be done; the message says why."""

    message_ja: str = "この操作は実行できません。"

    def __init__(self, message: str, message_ja: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if message_ja is not None:
            self.message_ja = message_ja


class NotFound(DomainError, LookupError):
    """No such object — or one outside the clinics the caller may see, which must look the same
    (docs/architecture.md, access control)."""

    message_ja = "お探しのものは見つかりません。"


class Forbidden(DomainError):
    """The caller may see the object but not do this to it."""

    message_ja = "この操作を行う権限がありません。"


class Conflict(DomainError):
    """Not possible in the object's present state (a request already sent, an archive that no
    longer matches its hash); the same request may succeed once the state changes."""

    message_ja = "現在の状態では実行できません。"


class Invalid(DomainError, ValueError):
    """The input is malformed or impossible; nothing was stored."""

    message_ja = "入力内容が正しくありません。"


class Throttled(DomainError):
    """Refused for a while, without looking at the request, because too many like it came
    before (failed logins); the same request may succeed once the wait is over."""

    message_ja = "しばらく待ってから、もう一度お試しください。"


class ReviewNotFound(NotFound):
    """No review has this id, or the caller may not see it."""

    message_ja = "この口コミは登録されていません。"

    def __init__(self, review_id: int) -> None:
        super().__init__(f"review {review_id} does not exist")
        self.review_id = review_id


class ClinicNotFound(NotFound):
    """A clinic id (a filter, a target) names no clinic, or one the caller may not see."""

    message_ja = "指定された医療機関は登録されていません。"
