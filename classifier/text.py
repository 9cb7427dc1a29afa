"""Text clean-up and SudachiPy analysis: the one place where review text becomes tokens.

Every feature block reads the same :class:`Analysed` record, so each text is tokenised exactly
once (tokenisation is by far the most expensive step of classification).

Sudachi objects cannot be pickled and a tokenizer must not be shared across threads, so the
tokenizer lives in a ``threading.local`` and is created lazily on first use in each thread;
nothing Sudachi-related is ever stored on a fitted estimator.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any, NamedTuple

from sudachipy import Dictionary, SplitMode

# Sudachi refuses inputs longer than 49,149 bytes; 4,000 characters stay below that even when
# every character takes four bytes in UTF-8. Longer reviews are cut into chunks of this size.
CHUNK_CHARS = 4_000
# Review sites cap reviews at a few thousand characters; past this a text is not a review.
# Anything beyond is not analysed (the result says so in its reasons).
MAX_CHARS = 25 * CHUNK_CHARS

_TAG = re.compile(r"<[^>]{0,2000}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# C0/C1 control characters, zero-width/bidi format characters (except tab and newline), and
# lone surrogates (possible in JSON input, and fatal to Sudachi).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ud800-\udfff]"
)
_SPACE = re.compile(r"\s+")
# Full-width ASCII, the ideographic space and the ellipsis: what NFKC maps them to.
_COMMON_NFKC = {c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {
    0x3000: " ",
    0x2026: "...",
}
_COMMON_NFKC_RUN = re.compile("[\uff01-\uff5e\u3000\u2026]+")


class Analysed(NamedTuple):
    """One text as every feature block sees it."""

    # NFKC-normalised text with markup, control characters and runs of white space removed.
    text: str
    # Sudachi normalised forms (mode C) of the content tokens, punctuation and spaces left out.
    words: list[str]
    # Surfaces of tokens Sudachi tags as person names (名詞-固有名詞-人名).
    names: list[str]
    # Parallel to ``words``: the text as written, and whether the token is a content word
    # (what a reason may name: 不正請求, 燃やす — not particles or auxiliaries).
    surfaces: list[str]
    content: list[bool]
    # Per-record memo for derived values computed by more than one step (the signals that
    # fired feed both the signal features and the reasons); never persisted.
    memo: dict[str, Any]


def clean(text: str) -> str:
    """Plain text for analysis: tags and entities resolved, controls dropped, NFKC, spaces squeezed.

    The corpus writes a line break inside a text as the two characters ``\\n``; they are
    treated like a real line break (i.e. as white space).
    """
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    # The common NFKC mappings of Japanese review text by table, then the (much cheaper than
    # normalising) quick check; full normalisation only for what is left (half-width kana…).
    text = text.replace("\\n", "\n")
    if not unicodedata.is_normalized("NFKC", text):
        text = _COMMON_NFKC_RUN.sub(lambda m: m.group().translate(_COMMON_NFKC), text)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


class _SudachiState(threading.local):
    dictionary: Any = None
    tokenizer: Any = None
    # A MorphemeList reused for every call (``tokenize(..., out=)``): no allocation per text.
    morphemes: Any = None
    skip_pos: frozenset[int] = frozenset()
    name_pos: frozenset[int] = frozenset()
    content_pos: frozenset[int] = frozenset()


_state = _SudachiState()
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "感動詞"})


def _tokenizer() -> Any:
    if _state.tokenizer is None:
        dictionary = Dictionary(dict="core")
        skip: set[int] = set()
        names: set[int] = set()
        content: set[int] = set()
        pos_id = 0
        while (pos := dictionary.pos_of(pos_id)) is not None:
            if pos[0] in ("補助記号", "空白"):
                skip.add(pos_id)
            if pos[2] == "人名":
                names.add(pos_id)
            if (
                pos[0] in _CONTENT_POS
                and pos[1] not in ("非自立可能", "数詞")
                and pos[2] != "助数詞可能"
            ):
                content.add(pos_id)
            pos_id += 1
        _state.dictionary = dictionary
        _state.skip_pos = frozenset(skip)
        _state.name_pos = frozenset(names)
        _state.content_pos = frozenset(content)
        # Mode C keeps compounds such as 不正請求 and 医療ミス whole, which is what the
        # signals and the reasons shown to staff talk about. Only the fields read below are
        # loaded (the surface is always available): this roughly halves the cost per morpheme.
        tokenizer = dictionary.create(mode=SplitMode.C, fields={"pos", "normalized_form"})
        _state.morphemes = tokenizer.tokenize("")
        _state.tokenizer = tokenizer
    return _state.tokenizer


def tokenize(text: str) -> list[str]:
    """Sudachi normalised forms of a cleaned text (no punctuation or spaces)."""
    return analyse(text).words


def analyse(cleaned: str) -> Analysed:
    """Tokenise one already-cleaned text (at most :data:`CHUNK_CHARS` characters)."""
    tokenizer = _tokenizer()
    skip = _state.skip_pos
    name_pos = _state.name_pos
    content_pos = _state.content_pos
    words: list[str] = []
    names: list[str] = []
    surfaces: list[str] = []
    content: list[bool] = []
    for morpheme in tokenizer.tokenize(cleaned[:CHUNK_CHARS], out=_state.morphemes):
        pos_id = morpheme.part_of_speech_id()
        if pos_id in skip:
            continue
        words.append(morpheme.normalized_form())
        surface = morpheme.surface()
        surfaces.append(surface)
        content.append(pos_id in content_pos)
        if pos_id in name_pos:
            names.append(surface)
    return Analysed(cleaned, words, names, surfaces, content, {})


def analyse_texts(texts: Iterable[str]) -> list[Analysed]:
    """The pipeline's first step: raw texts → :class:`Analysed` records (texts are cleaned here)."""
    return [analyse(clean(text)) for text in texts]


def chunks(cleaned: str) -> list[str]:
    """Split a long cleaned text into analysable pieces (at most ``MAX_CHARS`` are kept)."""
    cleaned = cleaned[:MAX_CHARS]
    if len(cleaned) <= CHUNK_CHARS:
        return [cleaned]
    return [cleaned[i : i + CHUNK_CHARS] for i in range(0, len(cleaned), CHUNK_CHARS)]
