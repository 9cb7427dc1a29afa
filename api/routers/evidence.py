"""``GET /api/v1/reviews/{id}/evidence``: the signed evidence bundle of one review as a zip.

What a bundle holds and why: docs/domain.md.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.params import ReviewIdPath
from kuchikomi.services.evidence import issue_bundle

router = APIRouter(prefix="/api/v1/reviews", tags=["evidence"])


@router.get(
    "/{review_id}/evidence",
    summary="Evidence bundle (zip: WARC, page renderings, PDF report, signed manifest.json)",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The bundle."},
        **error_responses(404, 409),
    },
)
def get_evidence(review_id: ReviewIdPath, session: SessionDep, user: CurrentUser) -> Response:
    """The archived pages the review was seen on (first and latest capture) with their offline
    renderings, a printable report, a manifest of hashes and the server's Ed25519 signature of
    it; check it later with `kuchikomi evidence verify FILE.zip --public-key KEY.pem`. Every
    download is recorded (manifest SHA-256) and written to the audit log.

    409 when an archived page can no longer be read back exactly as recorded: a bundle never
    carries evidence that does not match its own hashes."""
    bundle = issue_bundle(
        session=session, review_id=review_id, user=user, clinic_ids=visible_clinic_ids(user)
    )
    return Response(
        bundle.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{bundle.filename}"',
            "X-Content-SHA256": bundle.sha256,
            "Cache-Control": "no-store",
        },
    )
