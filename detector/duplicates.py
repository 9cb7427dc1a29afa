"""Near-duplicate texts: copy-paste campaigns within one clinic and across clinics.

A nationwide history is ~13 million reviews, so nothing here works text by text in Python except
the final check of candidate pairs. The method, in four steps:

1. **Normalise and sample, in bulk.** Texts are joined in chunks, read once as code points and
   mapped through a per-code-point table (NFKC + case-folding of each single code point, built
   once) to 16-bit values: letters, digits and kana keep one canonical value, punctuation,
   symbols and spaces become a *gap*. A position is an *anchor* when a hash of the character
   3-gram starting there falls in the lowest ``1/sample`` of the hash range — a content-defined
   sample, so two texts sharing a passage sample the same anchors in it, however the surrounding
   sentences are shuffled. Each anchor whose following ``key_chars`` characters contain no gap
   gives a *key* (the hash of those characters, read as one 64-bit word). A text of 80
   characters yields about 6.5 keys.
2. **Ignore phrases.** Keys are sorted by (key, time), in parts split by the key's top bits so
   that each part is sorted and scanned in cache. A key is a phrase ("ありがとうございました",
   "先生の説明") rather than the fingerprint of one text when, outside its busiest stretch of two
   windows, it turns up in more than ``max_background`` texts per window on average. Measuring
   the background *outside* the busiest stretch keeps the keys of a large campaign: hundreds of
   copies in one week do not make their wording common.
3. **Candidate pairs from shared keys close in time.** Each remaining occurrence is paired with
   the next ``neighbours`` occurrences of the same key posted within ``window_days`` of it.
   Campaigns are by nature short ("a large amount in a short period", docs/domain.md): copies months
   apart are not a campaign, and limiting pairs to a window is what keeps the work linear in the
   number of reviews. The window bounds the gap between *consecutive* copies, not the length of
   a campaign: copies posted every few days for months still chain into one cluster. A pair is
   a candidate when the keys it shares are at least ``min_estimate`` of the keys of the two
   texts (an estimate of their similarity from the samples).
4. **Exact check.** Each candidate pair is checked on the exact Jaccard similarity of the
   character 2-gram sets of the two fully normalised texts (NFKC, case-folded, punctuation,
   symbols and spaces removed) — 2-grams are kind to reworded text. All pairs are checked at
   once, with the 2-grams as integers; verified pairs are joined into clusters (union-find).
   Texts shorter than ``min_chars`` after normalisation are skipped: "丁寧でした" is everybody's
   review.

Every step reads only a text's first ``max_chars`` characters, so what one review costs is
bounded whatever its length.

Known simplifications of the bulk table: code points outside the Basic Multilingual Plane
(emoji, rare kanji, and the few compatibility ideographs whose NFKC form lies there) are treated
as gaps, and a code point whose NFKC form is several characters ("㍿") keeps its first;
half-width kana with a separate voiced mark ("ｶﾞ") lose the mark. They only affect sampling;
the exact check in step 4 normalises each text properly.

Sampling has a price on short, heavily reworded texts: with ~60 characters and few passages in
common, a copy may share no sampled key with the others. On the hand-written rewordings in
``tests/detector`` (four texts), 98 of 100 random choices of the hash constant find all four
and 2 find three.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

_NON_WORD = re.compile(r"[\W_]+")
_DAY = 86_400.0
# Odd multiplier: normalised code point × K (mod 2^16) is a bijection on the BMP, so the table's
# values identify characters exactly while their high bits look random (multiplicative hashing).
_K = 0x9E3779B1


@dataclass(frozen=True)
class DuplicateParams:
    min_chars: int = 20
    # Only each text's first ``max_chars`` characters are compared: copies in a campaign are
    # recognisable by far less, and one huge review must not make every later detection of its
    # clinic cost in proportion to its length (docs/contracts.md#text-limits).
    max_chars: int = 5_000
    # One 3-gram in ``sample`` becomes an anchor; each anchor's key covers ``key_chars`` characters
    # (at most 4: a key is read as one 64-bit word of 16-bit characters).
    sample: int = 8
    key_chars: int = 4
    # Exact similarity a candidate pair must reach (2-gram Jaccard). Among ~2,300 distinct
    # hand-written reviews in our corpus no pair reaches 0.34; reworded copies score 0.5-0.9.
    threshold: float = 0.5
    # Pairs come from occurrences of one key at most ``window_days`` apart (see step 3).
    window_days: float = 14.0
    neighbours: int = 3
    # A key found in more than this many texts per window, on average outside its busiest
    # window, is a phrase ("ありがとうございました"), not the fingerprint of one text.
    max_background: float = 1.0
    # Shared keys / keys of either text a pair needs before the exact check.
    min_estimate: float = 0.2
    min_cluster: int = 3
    chunk_texts: int = 2048
    seed: int = 20240409

    def __post_init__(self) -> None:
        if not 1 <= self.key_chars <= 4:
            raise ValueError(f"key_chars must be 1 to 4, not {self.key_chars}")


def normalize_text(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def _grams(text: str, n: int) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the character 2-gram sets of two normalised texts."""
    ga, gb = _grams(a, 2), _grams(b, 2)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


@cache
def _char_table() -> np.ndarray:
    """Code point (BMP) -> 16-bit hashed canonical character, 0 for a gap (see the docstring)."""
    table = np.zeros(0x10000, dtype=np.uint16)
    for code in range(1, 0x10000):
        if 0xD800 <= code < 0xE000:  # surrogates
            continue
        for ch in unicodedata.normalize("NFKC", chr(code)).casefold():
            if ch.isalnum():  # what ``\w`` keeps, bar "_"
                if ord(ch) <= 0xFFFF:  # a few compatibility ideographs normalise beyond the BMP
                    table[code] = (ord(ch) * _K) & 0xFFFF
                break
    return table


class _Partitions:
    """Packed keys split by their top bits, so that each part is sorted and scanned in cache."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.runs: list[list[np.ndarray]] = [[] for _ in range(1 << bits)]
        self._pending: list[np.ndarray] = []
        self._size = 0

    def add(self, packed: np.ndarray) -> None:
        self._pending.append(packed)
        self._size += len(packed)
        if self._size >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        """Deal the pending keys out to the parts, unsorted (a radix sort on their top bits)."""
        if not self._pending:
            return
        packed = np.concatenate(self._pending)
        self._pending, self._size = [], 0
        top = (packed >> (63 - self.bits)).astype(np.uint16)
        packed = packed[np.argsort(top, kind="stable")]  # stable on 16 bits: numpy's radix sort
        bounds = np.cumsum(np.bincount(top, minlength=1 << self.bits)).tolist()
        for i, run in enumerate(self.runs):
            lo = bounds[i - 1] if i else 0
            if bounds[i] > lo:
                run.append(packed[lo : bounds[i]])

    def parts(self) -> Iterator[np.ndarray]:
        """Each part's packed keys, sorted: one sort per part, in cache, once all keys are in."""
        self.flush()
        for i, run in enumerate(self.runs):
            if run:
                yield np.sort(np.concatenate(run))
            self.runs[i] = []


def _sampled_keys(
    texts: Sequence[str], rank: np.ndarray, params: DuplicateParams, out: _Partitions
) -> np.ndarray:
    """Step 1: every text's sampled keys, packed with its time rank; returns keys per text.

    A packed key is a non-negative int64 (numpy sorts those faster than unsigned ones) holding
    the key's high bits above the text's time rank, so that sorting packed keys sorts by
    (key, time). Texts are read in their own order: reading them in time order costs more than
    all the rest of this step (memory order).
    """
    table = _char_table()
    limit = np.uint16(0x10000 // params.sample)
    # A key is read as one 64-bit word: the 16-bit values of its characters, one per lane. It
    # has a gap when one of its lanes is 0 (the classic has-a-zero-lane bit trick).
    lanes = (1 << (16 * params.key_chars)) - 1
    lane_low = np.uint64(0x0001_0001_0001_0001 & lanes)
    lane_high = np.uint64(0x8000_8000_8000_8000 & lanes)
    mult = np.random.default_rng(params.seed).integers(1, 2**63, dtype=np.uint64) | np.uint64(1)
    high = np.uint64(~((1 << _rank_bits(len(texts))) - 1) & (2**64 - 1))
    per_text = np.zeros(len(texts), dtype=np.int64)
    v = np.zeros(0, dtype=np.uint16)
    for lo in range(0, len(texts), params.chunk_texts):
        chunk = texts[lo : lo + params.chunk_texts]
        joined = "\x00".join(chunk)
        lengths = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))  # texts in cache
        # The code points, as numpy stores a str (cheaper than encoding it). Code points beyond
        # the BMP are clipped to U+FFFF, a non-character: a gap. Lone surrogates (scraped text
        # can hold them) pass through and are gaps too.
        raw = np.array(joined).reshape(1).view(np.uint32)[: len(joined)]
        size = len(raw)
        if len(v) < size + 3:  # buffers reused from chunk to chunk: no fresh pages each time
            v = np.zeros(2 * size + 3, dtype=np.uint16)
            h = np.empty(len(v), dtype=np.uint16)
            is_anchor = np.empty(len(v), dtype=bool)
            index = np.empty(len(v), dtype=np.intp)
        np.copyto(index[:size], raw)  # take() would convert the indices into a fresh array
        np.take(table, index[:size], mode="clip", out=v[:size])
        v[size : size + 3] = 0  # a gap after the last text: every key reads four characters
        np.add(v[:size], v[1 : size + 1], out=h[:size])
        np.bitwise_xor(h[:size], v[2 : size + 2], out=h[:size])
        np.less(h[:size], limit, out=is_anchor[:size])
        at = np.flatnonzero(is_anchor[:size])
        words = np.ndarray((size,), dtype=np.uint64, buffer=v, strides=(2,))
        gram = words[at]
        if params.key_chars < 4:
            gram &= np.uint64(lanes)
        gap = gram - lane_low
        gap &= ~gram
        gap &= lane_high
        ok = gap == 0
        # The anchors of each text: anchors are in position order, so one binary search per
        # text finds where its anchors begin. Raw length bounds the normalised length, so texts
        # shorter than ``min_chars`` can never pass the check and give no keys.
        first = np.searchsorted(at, np.cumsum(lengths + 1) - (lengths + 1))
        counts = np.diff(first, append=len(at))
        ok &= np.repeat(lengths >= params.min_chars, counts)
        kept = np.concatenate([[0], np.cumsum(ok)])
        kept = kept[first + counts] - kept[first]
        per_text[lo : lo + len(chunk)] = kept
        key = gram[ok]  # still in text order: each text's rank repeats for its kept keys
        key *= mult
        key >>= np.uint64(1)
        key &= high
        key |= np.repeat(rank[lo : lo + len(chunk)], kept).view(np.uint64)
        out.add(key.view(np.int64))
    return per_text


def _rank_bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def candidate_pairs(
    texts: Sequence[str], times: np.ndarray, params: DuplicateParams
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3: candidate pairs, as text indices ``a`` and ``b``."""
    n = len(texts)
    empty = np.zeros(0, dtype=np.int64)
    if not n:
        return empty, empty
    order = _time_order(times)
    t_rank = times[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    parts = _Partitions(bits=int(np.clip(np.log2(max(n, 1)) - 14, 0, 10)))
    per_text = _sampled_keys(texts, rank, params, parts)
    shift = _rank_bits(n)
    low = (1 << shift) - 1
    window = params.window_days * _DAY
    t0 = float(times.min())
    windows = max(1.0, (float(times.max()) - t0) / window - 1.0)
    # The window-long cell of each rank, in the smallest type that holds it: looked up once per
    # key occurrence, so a small table (in cache) beats reading the times. (A product and a
    # truncation: numpy's float floor division is several times slower.)
    cells = t_rank - t0
    cells *= 1.0 / window
    cell_rank = cells.astype(np.min_scalar_type(int(cells.max())))
    links: list[np.ndarray] = []
    for packed in parts.parts():
        packed = _distinct(packed)  # a key twice in one text
        key = packed >> shift
        r = packed & low
        rare = ~_common(key, cell_rank[r], windows, params)
        key, r = key[rare], r[rare]
        t = t_rank[r]
        for s in range(1, params.neighbours + 1):
            near = (key[s:] == key[:-s]) & (t[s:] - t[:-s] <= window)
            links.append(r[:-s][near] << 32 | r[s:][near])
    if not links:
        return empty, empty
    pairs, shared = np.unique(np.concatenate(links), return_counts=True)
    a, b = pairs >> 32, pairs & 0xFFFFFFFF
    a, b = order[a], order[b]
    estimate = shared / (per_text[a] + per_text[b] - shared)
    wanted = estimate >= params.min_estimate
    return a[wanted], b[wanted]


def _time_order(times: np.ndarray) -> np.ndarray:
    """Indices of ``times`` in time order (ties in any order), without a float argsort.

    Times become integer steps of at most a millisecond, packed above the index: one sort of
    integers, cheaper than an argsort of floats. Texts less than a step apart may come out of
    order, which nothing downstream can tell from posting them together.
    """
    n = len(times)
    bits = _rank_bits(n)
    t0 = float(times.min())
    span = float(times.max()) - t0
    steps_per_second = min(1000.0, 2.0 ** (62 - bits) / max(span, 1.0))
    # In place where possible: at 13 M texts every fresh array costs as much as its arithmetic.
    since = times - t0
    since *= steps_per_second
    packed = since.astype(np.int64)
    packed <<= bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << bits) - 1
    return packed


def _common(
    group: np.ndarray, cell: np.ndarray, windows: float, params: DuplicateParams
) -> np.ndarray:
    """Step 2: occurrences of keys that are common outside their busiest window.

    ``cell`` is each occurrence's window-long cell of time, ``windows`` how many windows the
    whole history spans.
    """
    if not len(group):
        return np.zeros(0, dtype=bool)
    # Occurrences per (key, window-long cell), then each key's busiest two adjacent cells: any
    # burst fits in two adjacent cells.
    new_key = np.r_[True, group[1:] != group[:-1]]
    new_cell = new_key.copy()
    new_cell[1:] |= cell[1:] != cell[:-1]
    cell_start = np.flatnonzero(new_cell)
    cell_count = np.diff(np.r_[cell_start, len(group)])
    cell_key = np.cumsum(new_key[cell_start])
    cell_index = cell[cell_start].astype(np.int64)
    pair_count = cell_count.copy()
    follows = (cell_key[1:] == cell_key[:-1]) & (cell_index[1:] == cell_index[:-1] + 1)
    pair_count[:-1] += np.where(follows, cell_count[1:], 0)
    key_start = np.flatnonzero(new_key[cell_start])
    busiest = np.maximum.reduceat(pair_count, key_start)
    total = np.add.reduceat(cell_count, key_start)
    common = (total - busiest) / windows > params.max_background
    return np.repeat(common, total)


def _similar(
    texts: Sequence[str], a: np.ndarray, b: np.ndarray, params: DuplicateParams
) -> np.ndarray:
    """Step 4 for every candidate pair at once: which pairs reach ``threshold``.

    Same test as :func:`similarity` on each pair, in bulk: a 2-gram becomes one integer (the
    numbers of its two characters), each text's 2-grams a sorted set, and the intersections of
    all pairs are counted in one sort of the pairs' sets side by side. (Sorts throughout:
    ``np.unique`` takes a slower hashing path here.)
    """
    ends_both = np.concatenate([a, b])
    ids = _distinct(np.sort(ends_both))
    where = np.searchsorted(ids, ends_both)
    norm = [normalize_text(texts[i]) for i in ids.tolist()]
    lengths = np.fromiter(map(len, norm), dtype=np.int64, count=len(norm))
    pair_a, pair_b = where[: len(a)], where[len(a) :]
    # Texts too short after normalisation are never similar ("丁寧でした" is everybody's review).
    checked = (lengths[pair_a] >= params.min_chars) & (lengths[pair_b] >= params.min_chars)
    pair_a, pair_b = pair_a[checked], pair_b[checked]
    joined = "".join(norm)
    chars = np.array(joined).reshape(1).view(np.uint32)[: len(joined)]
    # Characters numbered densely, so that (text, 2-gram) fits one int64 whatever the script.
    seen = np.zeros(0x110000, dtype=bool)
    seen[chars] = True
    n_chars = max(1, int(seen.sum()))
    char = (np.cumsum(seen) - 1)[chars]
    ends = np.cumsum(lengths)
    starts_gram = np.ones(len(chars), dtype=bool)
    starts_gram[ends[lengths > 0] - 1] = False  # a text's last character starts no 2-gram
    at = np.flatnonzero(starts_gram)
    n_grams = n_chars * n_chars
    owner = np.repeat(np.arange(len(ids)), lengths)[at]
    members = owner * n_grams + char[at] * n_chars + char[at + 1]
    members.sort()
    members = _distinct(members)  # each text's set, sorted, texts in order
    size = np.bincount(members // n_grams, minlength=len(ids))
    first = np.cumsum(size) - size
    members %= n_grams
    pair = np.arange(len(pair_a))
    tagged = np.concatenate(
        [
            np.repeat(pair, size[pair_a]) * n_grams + members[_ranges(first[pair_a], size[pair_a])],
            np.repeat(pair, size[pair_b]) * n_grams + members[_ranges(first[pair_b], size[pair_b])],
        ]
    )
    tagged.sort()
    in_both = tagged[1:][tagged[1:] == tagged[:-1]] // n_grams
    both = np.bincount(in_both, minlength=len(pair))
    similar = np.zeros(len(a), dtype=bool)
    # Jaccard: both / union, union = |A| + |B| - both.
    similar[checked] = both >= params.threshold * (size[pair_a] + size[pair_b] - both)
    return similar


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array."""
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _ranges(first: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The indices ``first[k] .. first[k] + size[k] - 1`` for every k, one after the other."""
    shift = np.repeat(first - (np.cumsum(size) - size), size)
    shift += np.arange(len(shift))
    return shift


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent.get(root, root) != root:
            root = parent[root]
        while i != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def duplicate_clusters(
    texts: Sequence[str],
    params: DuplicateParams | None = None,
    times: np.ndarray | None = None,
) -> list[list[int]]:
    """Clusters (lists of indices into ``texts``) of at least ``min_cluster`` near-duplicates.

    ``times`` (seconds, one per text) limits pairs to texts posted within ``window_days`` of each
    other; without it all texts count as posted together.
    """
    params = params or DuplicateParams()
    if len(texts) < params.min_cluster:
        return []
    limit = params.max_chars
    texts = [text if len(text) <= limit else text[:limit] for text in texts]
    times = np.zeros(len(texts)) if times is None else np.asarray(times, dtype=np.float64)
    a, b = candidate_pairs(texts, times, params)
    similar = _similar(texts, a, b, params)
    uf = _UnionFind()
    for i, j in zip(a[similar].tolist(), b[similar].tolist(), strict=True):
        uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in uf.parent:
        groups.setdefault(uf.find(i), []).append(i)
    for root in list(groups):
        groups[root].append(root)
    return sorted(
        (sorted(g) for g in groups.values() if len(g) >= params.min_cluster), key=lambda g: g[0]
    )
