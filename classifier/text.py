"""Text clean-up and SudachiPy analysis: the one place where review text becomes tokens.

Every feature block reads the same :class:`Analysed` record, so each text is tokenised exactly
once (tokenisation is by far the most expensive step of classification).

Sudachi objects cannot be pickled and a tokenizer must not be shared across threads, so the
tokenizer lives in a ``threading.local`` and is created lazily on first use in each thread;
nothing Sudachi-related is ever stored on a fitted estimator.
"""

from __future__ import annotations

import gc
import html
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from sudachipy import Dictionary, SplitMode

# Sudachi refuses inputs longer than 49,149 bytes; 4,000 characters stay below that even when
# every character takes four bytes in UTF-8. Longer reviews are cut into chunks of this size.
CHUNK_CHARS = 4_000
# Review sites cap reviews at a few thousand characters; past this a text is not a review.
# Anything beyond is not analysed (the result says so in its reasons), nor even cleaned: what a
# text costs is bounded whatever its length (docs/contracts.md#text-limits).
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
    # Sudachi normalised forms (mode C) of the tokens, punctuation and spaces left out.
    words: tuple[str, ...]
    # Parallel to ``words``: Sudachi's part-of-speech id (which tells content words, what a
    # reason may name — 不正請求, 燃やす — from particles and auxiliaries, and person names), and
    # where the token stands in ``text`` (code point offsets: its surface is text[begin:end]).
    pos: tuple[int, ...]
    begins: tuple[int, ...]
    ends: tuple[int, ...]
    # Per-record memo for derived values computed by more than one step (the signals that
    # fired feed both the signal features and the reasons); never persisted.
    memo: dict[str, Any]

    def surface(self, i: int) -> str:
        """Token ``i`` as written."""
        return self.text[self.begins[i] : self.ends[i]]

    def content_surface(self, first: int, last: int) -> str | None:
        """Tokens ``first..last`` as written, from the first content word (noun, verb,
        adjective…, not a particle) on; None when there is none."""
        pos, content = self.pos, _pos.content
        while first <= last and pos[first] not in content:
            first += 1
        if first > last:
            return None
        if first == last:
            return self.surface(first)
        return "".join(self.surface(i) for i in range(first, last + 1))

    def names(self) -> list[str]:
        """Surfaces of the tokens Sudachi tags as person names (名詞-固有名詞-人名)."""
        name_pos = _pos.names
        if name_pos.isdisjoint(self.pos):
            return []
        return [self.surface(i) for i, p in enumerate(self.pos) if p in name_pos]


def clean(text: str) -> str:
    """Plain text for analysis: tags and entities resolved, controls dropped, NFKC, spaces squeezed.

    The corpus writes a line break inside a text as the two characters ``\\n``; they are
    treated like a real line break (i.e. as white space). Only the first :data:`MAX_CHARS`
    characters are read.
    """
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
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
    if text.isprintable():
        # The usual case, checked in one pass: no control or format characters, and no white
        # space but the ASCII space (every other kind is not printable), so only runs of it
        # are left to squeeze.
        if "  " in text:
            text = _SPACE.sub(" ", text)
        return text.strip()
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


class _SudachiState(threading.local):
    dictionary: Any = None
    tokenizer: Any = None
    # A MorphemeList reused for every call (``tokenize(..., out=)``): no allocation per text.
    morphemes: Any = None


class _PosSets:
    """Part-of-speech ids by role. The same for every thread (one dictionary), so not per thread:
    a record analysed in one thread may be explained in another."""

    skip: frozenset[int] = frozenset()
    names: frozenset[int] = frozenset()
    content: frozenset[int] = frozenset()


_state = _SudachiState()
_pos = _PosSets()
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "感動詞"})


def content_pos() -> frozenset[int]:
    """Part-of-speech ids of content words (see :meth:`Analysed.content_surface`)."""
    return _pos.content


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
        _pos.skip = frozenset(skip)
        _pos.names = frozenset(names)
        _pos.content = frozenset(content)
        # Mode C keeps compounds such as 不正請求 and 医療ミス whole, which is what the
        # signals and the reasons shown to staff talk about. Only the fields read below are
        # loaded (the surface is always available): this roughly halves the cost per morpheme.
        tokenizer = dictionary.create(mode=SplitMode.C, fields={"pos", "normalized_form"})
        _state.morphemes = tokenizer.tokenize("")
        _state.tokenizer = tokenizer
    return _state.tokenizer


def tokenize(text: str) -> list[str]:
    """Sudachi normalised forms of a cleaned text (no punctuation or spaces)."""
    return list(analyse(text).words)


def analyse(cleaned: str) -> Analysed:
    """Tokenise one already-cleaned text (at most :data:`CHUNK_CHARS` characters)."""
    morphemes = _tokenizer().tokenize(cleaned[:CHUNK_CHARS], out=_state.morphemes)
    skip = _pos.skip
    # One comprehension reading each morpheme once: per-token Python work is the largest cost
    # of classification after Sudachi itself, so nothing else is derived here (content words
    # and names are read from the POS ids when they are needed). Surfaces are kept as offsets:
    # a method returning a string costs several times one returning an int, and only the few
    # tokens a reason names are ever spelled out.
    rows = [
        (pos_id, m.normalized_form(), m.begin(), m.end())
        for m in morphemes
        if (pos_id := m.part_of_speech_id()) not in skip
    ]
    if not rows:
        return Analysed(cleaned, (), (), (), (), {})
    pos, words, begins, ends = zip(*rows, strict=True)
    return Analysed(cleaned, words, pos, begins, ends, {})


def analyse_texts(texts: Iterable[str]) -> list[Analysed]:
    """The pipeline's first step: raw texts → :class:`Analysed` records (texts are cleaned here)."""
    with gc_paused():
        return [analyse(clean(text)) for text in texts]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a batch is analysed and scored.

    Analysis allocates a few hundred small containers per text, all kept until the batch is
    done, so the collector's passes over them (and over the loaded model) find nothing to free
    yet cost a tenth of the classification time. Reference counting still frees everything that
    forms no cycle; a cycle some library makes meanwhile waits for the collector's next pass
    after it resumes. Process-wide, like the collector itself: another thread's garbage waits too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunks(cleaned: str) -> list[str]:
    """Split a long cleaned text into analysable pieces (at most ``MAX_CHARS`` are kept)."""
    cleaned = cleaned[:MAX_CHARS]
    if len(cleaned) <= CHUNK_CHARS:
        return [cleaned]
    return [cleaned[i : i + CHUNK_CHARS] for i in range(0, len(cleaned), CHUNK_CHARS)]
