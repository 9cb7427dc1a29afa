"""Staff pages for a takedown case and for deadlines (Japanese web UI, docs/domain.md).

- ``/reviews/{id}/takedown`` — the 送信防止措置依頼書 draft as an editable form whose export
  buttons (Word, PDF, JSON) save what is on screen before exporting it, the link to the evidence
  bundle, then the case's state with a form to record the next step, and where to send it;
- ``/deadlines`` — what falls due soon (発信者情報開示 urgency dates, follow-ups), in a window
  staff can widen.

Forms post with the session's CSRF token (checked by :func:`api.auth.current_user`); a refused
form is shown again with the reason and nothing is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.params import ReviewIdPath, parse_day
from api.templating import templates
from kuchikomi.japanese import ROUTE_JA
from kuchikomi.services.cases import (
    EDITABLE_IN,
    ROUTE_KEYS,
    TRANSITIONS,
    CaseInputError,
    CaseStateError,
    CaseTransition,
    change_status,
    save_draft,
    send_blockers,
)
from kuchikomi.services.deadlines import list_deadlines
from kuchikomi.services.takedown import (
    CASE_STATUS_JA,
    FIELD_LABELS,
    FIELD_MAX_CHARS,
    TEXT_FIELDS,
    DraftEdit,
    build_draft,
    draft_docx,
    draft_pdf,
    prefilled_fields,
)
from kuchikomi.services.visibility import is_staff
from kuchikomi_settings import get_settings
from models.cases import CaseStatus

router = APIRouter(include_in_schema=False)

# Multi-line fields get a textarea.
LONG_FIELDS = frozenset({"information", "reason"})
# Clinic users read drafts and cases; the association's staff edit them (is_staff). The pages
# say so beside the form, which stays on screen read-only.
READ_ONLY_JA = "下書きの編集と対応状況の記録ができるのは管理者と確認担当者です（閲覧のみ）。"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXPORT_FORMATS = ("docx", "pdf", "json")
# The windows the deadlines page offers (days ahead); the default is the settings' due_soon_days.
DEADLINE_WINDOWS = (30, 90, 180)


def _takedown_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: int,
    *,
    error: str | None = None,
    error_at: str = "draft",
    message: str | None = None,
    code: int = 200,
    posted: dict[str, str] | None = None,
) -> HTMLResponse:
    draft = build_draft(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
    current = CaseStatus(draft.case.status) if draft.case else CaseStatus.draft
    read_only = not is_staff(user)
    next_statuses = [] if read_only else sorted(s.value for s in TRANSITIONS[current])
    blockers = (
        send_blockers(session=session, review_id=review_id)
        if CaseStatus.sent.value in next_statuses
        else []
    )
    values = draft.fields.model_dump()
    if posted is not None:
        # A refused form keeps what was typed.
        values.update(posted)
    return templates.TemplateResponse(
        request,
        "takedown.html",
        {
            "draft": draft,
            "values": values,
            "fields": [
                (name, FIELD_LABELS[name], FIELD_MAX_CHARS[name], name in LONG_FIELDS)
                for name in TEXT_FIELDS
            ],
            "disclose_label": FIELD_LABELS["disclose_name"],
            "editable": current in EDITABLE_IN and not read_only,
            "read_only": read_only,
            "status_ja": CASE_STATUS_JA,
            "current_status": current.value,
            "next_statuses": next_statuses,
            "send_blockers": blockers,
            "route_ja": ROUTE_JA,
            "route_keys": ROUTE_KEYS,
            "error": error,
            # The section whose form was refused: the error is shown there, focused.
            "error_at": error_at,
            "message": message,
        },
        status_code=code,
    )


@router.get("/reviews/{review_id}/takedown", response_class=HTMLResponse)
def takedown_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: ReviewIdPath,
    saved: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    message = {"draft": "下書きを保存しました。", "status": "対応状況を記録しました。"}.get(
        saved or ""
    )
    return _takedown_page(
        request, session, user, review_id, message=message, error_at=saved or "draft"
    )


def _form_text(value: str) -> str:
    # Browsers send textarea line breaks as CRLF.
    return value.replace("\r\n", "\n").replace("\r", "\n")


@router.post("/reviews/{review_id}/takedown", response_class=HTMLResponse)
def save_takedown_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: ReviewIdPath,
    provider: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
    information: Annotated[str, Form()] = "",
    rights: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    requester_address: Annotated[str, Form()] = "",
    requester_name: Annotated[str, Form()] = "",
    requester_contact: Annotated[str, Form()] = "",
    disclose_name: Annotated[str | None, Form()] = None,
    export: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the draft; with ``export`` (the form's Word/PDF/JSON buttons) also answer with the
    saved draft in that format, so what is exported is what was on screen."""
    if not is_staff(user):  # another clinic's review is still 404 there
        return _takedown_page(request, session, user, review_id, error=READ_ONLY_JA, code=403)
    clinic_ids = visible_clinic_ids(user)
    posted = {
        name: _form_text(value)
        for name, value in (
            ("provider", provider),
            ("location", location),
            ("information", information),
            ("rights", rights),
            ("reason", reason),
            ("requester_address", requester_address),
            ("requester_name", requester_name),
            ("requester_contact", requester_contact),
        )
    }
    prefilled = prefilled_fields(session=session, review_id=review_id, clinic_ids=clinic_ids)
    defaults = prefilled.model_dump()
    changed: dict[str, object] = {k: v for k, v in posted.items() if v != defaults[k]}
    if disclose_name is not None:
        changed["disclose_name"] = True
    try:
        edit = DraftEdit.model_validate(changed)
    except ValidationError as exc:
        fields = [FIELD_LABELS.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors()]
        # Too long, or text no database column can hold (NUL…; kuchikomi.schemas.Text).
        unstorable = any(e["type"] != "string_too_long" for e in exc.errors())
        problem = "使えない文字（NUL 文字など）を含む" if unstorable else "長すぎる"
        return _takedown_page(
            request,
            session,
            user,
            review_id,
            error=f"{problem}項目があります：" + "、".join(fields) + "。保存していません。",
            code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            posted=posted,
        )
    try:
        save_draft(
            session=session,
            review_id=review_id,
            edit=edit,
            user=user,
            clinic_ids=clinic_ids,
            replace=True,
        )
    except CaseStateError:
        return _takedown_page(
            request,
            session,
            user,
            review_id,
            error="送付済みの依頼書は編集できません（回答を記録してから再送してください）。",
            code=status.HTTP_409_CONFLICT,
            posted=posted,
        )
    if export in EXPORT_FORMATS:
        return _export(session, review_id, clinic_ids, export)
    return RedirectResponse(
        f"/reviews/{review_id}/takedown?saved=draft", status_code=status.HTTP_303_SEE_OTHER
    )


def _export(
    session: SessionDep, review_id: int, clinic_ids: list[int] | None, fmt: str
) -> Response:
    """The saved draft as a download (the same files as ``GET …/takedown-draft?format=``); the
    browser stays on the form, which still shows what was typed."""
    draft = build_draft(session=session, review_id=review_id, clinic_ids=clinic_ids)
    name = f"takedown-draft-review-{review_id}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        return JSONResponse(draft.model_dump(mode="json"), headers=headers)
    if fmt == "pdf":
        return Response(draft_pdf(draft), media_type="application/pdf", headers=headers)
    return Response(draft_docx(draft), media_type=DOCX_TYPE, headers=headers)


@router.post("/reviews/{review_id}/takedown/status", response_class=HTMLResponse)
def save_status_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: ReviewIdPath,
    new_status: Annotated[str, Form(alias="status", max_length=16)] = "",
    on: Annotated[str, Form(max_length=10)] = "",
    via: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    def refuse(message: str, code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> HTMLResponse:
        return _takedown_page(
            request, session, user, review_id, error=message, error_at="case", code=code
        )

    if not is_staff(user):
        return refuse(READ_ONLY_JA, status.HTTP_403_FORBIDDEN)
    try:
        change = CaseTransition.model_validate(
            {
                "status": new_status,
                "on": parse_day(on),
                "via": via or None,
                "note": _form_text(note) or None,
            }
        )
    except (ValueError, ValidationError):
        return refuse(
            "入力内容が正しくありません（状態・日付・送付先・メモの長さを確認してください）。"
        )
    if change.status == CaseStatus.sent.value:
        blockers = send_blockers(session=session, review_id=review_id)
        if blockers:
            return refuse(
                "まだ「送付済み」にできません：" + "".join(blockers), status.HTTP_409_CONFLICT
            )
    try:
        change_status(
            session=session,
            review_id=review_id,
            change=change,
            user=user,
            clinic_ids=visible_clinic_ids(user),
        )
    except CaseStateError:
        return refuse("現在の状態からは、その状態に変更できません。", status.HTTP_409_CONFLICT)
    except CaseInputError as exc:
        return refuse(exc.message_ja)
    return RedirectResponse(
        f"/reviews/{review_id}/takedown?saved=status#case", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/deadlines", response_class=HTMLResponse)
def deadlines_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    within_days: Annotated[str | None, Query(max_length=4)] = None,
) -> HTMLResponse:
    """Deadlines within the default window, or 30/90/180 days when staff widen it."""
    window = int(within_days) if within_days and within_days.isdigit() else None
    if window not in DEADLINE_WINDOWS:
        window = None
    deadlines = list_deadlines(
        session=session, clinic_ids=visible_clinic_ids(user), within_days=window
    )
    return templates.TemplateResponse(
        request,
        "deadlines.html",
        {
            "deadlines": deadlines,
            "status_ja": CASE_STATUS_JA,
            "windows": DEADLINE_WINDOWS,
            "selected_window": window,
            "default_window": get_settings().deadlines.due_soon_days,
        },
    )
