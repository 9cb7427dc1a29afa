"""Takedown request drafts: the 送信防止措置依頼書 (テレサ書式) prefilled from a review.

The form and who may file it: docs/domain.md.

- :mod:`.wording` — the legal wording of each category, the form's fixed sentences and labels,
  the routes a request can take;
- :mod:`.schemas` — the draft's fields, staff edits, the draft as a whole (shared with
  :mod:`kuchikomi.services.cases`);
- :mod:`.drafting` — the fields prefilled from a review, staff edits applied;
- :mod:`.rendering` — the draft as .docx and PDF.

The draft is rendered as JSON, .docx and PDF; every rendering reads the same
:class:`TakedownDraft`. :mod:`kuchikomi.services.cases` imports from here; nothing here imports
the case service.
"""

from kuchikomi.services.takedown.drafting import (
    build_draft,
    forwardable_reasons,
    get_case,
    load_review,
    prefilled_fields,
    site_of,
)
from kuchikomi.services.takedown.rendering import draft_docx, draft_pdf
from kuchikomi.services.takedown.schemas import (
    FIELD_MAX_CHARS,
    TEXT_FIELDS,
    CaseBrief,
    DraftEdit,
    DraftFields,
    RoutePublic,
    TakedownDraft,
    case_brief,
)
from kuchikomi.services.takedown.wording import (
    CASE_STATUS_JA,
    CATEGORY_JA,
    FIELD_LABELS,
    RIGHTS_BY_CATEGORY,
    routes_for,
)

__all__ = [
    "CASE_STATUS_JA",
    "CATEGORY_JA",
    "FIELD_LABELS",
    "FIELD_MAX_CHARS",
    "RIGHTS_BY_CATEGORY",
    "TEXT_FIELDS",
    "CaseBrief",
    "DraftEdit",
    "DraftFields",
    "RoutePublic",
    "TakedownDraft",
    "build_draft",
    "case_brief",
    "draft_docx",
    "draft_pdf",
    "forwardable_reasons",
    "get_case",
    "load_review",
    "prefilled_fields",
    "routes_for",
    "site_of",
]
