"""Burst detection on synthetic multi-year histories: precision, recall, delay, false alarms, time.

Histories (per clinic, JST days): a base rate drawn from a mix of quiet clinics (~1 review a
month), ordinary ones and busy ones (~5 a day); weekday effects (per-clinic jitter around a
Japanese clinic week: busy Mondays and Saturdays, quiet Thursdays and Sundays); slow growth or
decline over the years; day-to-day over-dispersion (a Gamma(10) multiplier on each day's rate);
3 % of ordinary reviews flagged by the classifier, ratings mostly 3–5.

Campaigns are injected into 30 % of the clinics (one or two each, never in a clinic's first 60
days): 3–60 posts spread over 1–7 days, each post flagged with probability 0.8 and rated 1–2.
In the text run a share of each campaign's posts (0–100 %) are reworded copies of one attack.

A burst "hits" a campaign when at least two of its member reviews (or all of them, if fewer)
are that campaign's posts. Figures:

- recall on the target campaigns (≥ 5× the clinic's expected count over the campaign's days,
  lasting ≥ 2 days, ≥ 3 posts), and on all campaigns by size;
- precision: bursts that hit a campaign / all bursts; false alarms per clinic-year: the others;
- detection delay: the earliest hitting burst's ``alarm_at`` minus the time of the campaign's
  third post (days; nightly runs see a day once it is over, so ~0.5 day is the floor);
- time of ``detector.detect`` (generation excluded) for N clinics × 3 years, one thread.

    .venv/bin/python bench/bursts.py [CLINICS] [TEXT_CLINICS]   # defaults 10000 and 10000

The first run (timeline detectors: volume, harmful, rating_drop, author) covers all clinics;
the second generates a new history for TEXT_CLINICS clinics with a text for every review and
runs all detectors including near-duplicates (10,000 clinics: ~13.7 M texts, about a minute to
generate; the whole benchmark peaks at about 5.2 GiB resident).
"""

from __future__ import annotations

import os

# One core, as the target says; set before numpy loads its BLAS/OpenMP.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector import ReviewArrays, detect  # noqa: E402
from detector.days import DAY_SECONDS, JST_OFFSET_SECONDS  # noqa: E402

YEARS = 3
DAYS = 365 * YEARS
FIRST_DAY = 20089  # 2025-01-01 JST
# Monday … Sunday: Japanese clinics are busy after the weekend and on Saturday mornings,
# many close on Thursday afternoons and on Sundays.
WEEK = np.array([1.45, 1.1, 1.0, 0.7, 1.05, 1.3, 0.4])


@dataclass
class Campaign:
    clinic: int
    start_day: int
    days: int
    posts: int
    expected: float  # the clinic's ordinary expected count over the campaign's days
    dup_ratio: float
    review_ids: np.ndarray
    third_post: float  # epoch seconds

    @property
    def target(self) -> bool:
        return self.days >= 2 and self.posts >= 3 and self.posts >= 5 * self.expected


def clinic_rates(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    low = np.array([1 / 40, 1 / 5, 2.0])[kind]
    high = np.array([1 / 7, 1.5, 6.0])[kind]
    return np.exp(rng.uniform(np.log(low), np.log(high)))


def generate(
    rng: np.random.Generator, n: int, *, texts: bool
) -> tuple[ReviewArrays, list[Campaign]]:
    base = clinic_rates(rng, n)
    growth = rng.uniform(-0.15, 0.35, size=n)  # per year
    week = WEEK[None, :] * rng.lognormal(0.0, 0.15, size=(n, 7))
    week /= week.mean(axis=1, keepdims=True)
    day = np.arange(DAYS)
    wk = (FIRST_DAY + day + 3) % 7
    rate = base[:, None] * np.exp(growth[:, None] * day[None, :] / 365.0) * week[:, wk]
    rate *= rng.gamma(10.0, 0.1, size=rate.shape)  # over-dispersion
    counts = rng.poisson(rate)

    clinic_col = np.repeat(np.repeat(np.arange(n), DAYS), counts.ravel())
    day_col = np.repeat(np.tile(day, n), counts.ravel())
    m = len(clinic_col)
    flagged = rng.random(m) < 0.03
    rating = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=m, p=[0.06, 0.07, 0.17, 0.35, 0.35])
    seconds = rng.uniform(8, 21, size=m) * 3600  # office hours, JST

    campaigns: list[Campaign] = []
    extra_clinic, extra_day, extra_sec, extra_flag, extra_rating = [], [], [], [], []
    attacked = rng.choice(n, size=int(0.3 * n), replace=False)
    for c in attacked:
        for _ in range(int(rng.integers(1, 3))):
            length = int(rng.integers(1, 8))
            start = int(rng.integers(60, DAYS - length))
            posts = int(rng.choice([3, 4, 5, 6, 8, 10, 15, 20, 30, 60]))
            if any(x.clinic == c and abs(x.start_day - start) < 30 for x in campaigns):
                continue
            # Posts spread over the days, front-loaded a little as campaigns are.
            offsets = np.sort(rng.uniform(0, length, size=posts) ** 1.2 / length**0.2)
            days_of = start + np.floor(offsets).astype(int)
            secs = (offsets - np.floor(offsets)) * 13 * 3600 + 8 * 3600
            order = np.lexsort((secs, days_of))
            days_of, secs = days_of[order], secs[order]
            campaigns.append(
                Campaign(
                    clinic=int(c),
                    start_day=start,
                    days=length,
                    posts=posts,
                    expected=float(rate[c, start : start + length].sum()),
                    dup_ratio=float(rng.choice([0.0, 0.3, 0.7, 1.0])),
                    review_ids=np.arange(m + len(extra_clinic), m + len(extra_clinic) + posts),
                    third_post=_epoch(days_of[2], secs[2]),
                )
            )
            extra_clinic += [c] * posts
            extra_day += list(days_of)
            extra_sec += list(secs)
            extra_flag += list(rng.random(posts) < 0.8)
            extra_rating += list(rng.choice([1.0, 2.0], size=posts, p=[0.8, 0.2]))

    clinic_col = np.concatenate([clinic_col, np.array(extra_clinic, dtype=np.int64)])
    day_col = np.concatenate([day_col, np.array(extra_day, dtype=np.int64)])
    seconds = np.concatenate([seconds, np.array(extra_sec)])
    flagged = np.concatenate([flagged, np.array(extra_flag, dtype=bool)])
    rating = np.concatenate([rating, np.array(extra_rating)])
    total = len(clinic_col)
    text_col = None
    if texts:
        text_col = ordinary_texts(rng, m) + [""] * (total - m)
        for camp in campaigns:
            attack = attack_text(rng)
            for rid in camp.review_ids:
                copy = rng.random() < camp.dup_ratio
                text_col[rid] = reword(rng, attack) if copy else attack_text(rng)
    arrays = ReviewArrays(
        review_id=np.arange(total, dtype=np.int64),
        clinic_id=clinic_col.astype(np.int64),
        time=_epoch(day_col, seconds),
        flagged=flagged,
        rating=rating,
        author=np.full(total, -1, dtype=np.int64),
        texts=text_col,
    )
    return arrays, campaigns


def _epoch(day: np.ndarray | int, seconds: np.ndarray | float) -> np.ndarray | float:
    return (FIRST_DAY + day) * DAY_SECONDS - JST_OFFSET_SECONDS + seconds


# Texts. Ordinary reviews come from an order-2 character Markov chain trained on the shipped
# corpus's benign and criticism reviews: Japanese-looking text with the corpus's character
# n-gram statistics, but (like real reviews) no two alike. The chain is run for many texts at
# once in numpy, so that every review of 10,000 clinics can have a text. Attacks are recombined
# sentences of the corpus's harmful reviews; reworded copies of one attack make a campaign's
# duplicates.
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")


def _texts(labels: set[str]) -> list[str]:
    from classifier.corpus import load_corpus

    return [e.text for e in load_corpus() if e.label in labels]


class _Markov:
    """Order-2 character chain, run for many texts at once (one numpy step per character).

    Each 2-character context keeps every character that followed it in the corpus (with
    repeats), so drawing a uniform entry draws from the empirical distribution. A text ends when
    the chain reaches a corpus text's end after at least ``min_len`` characters; reaching an end
    earlier closes the sentence and jumps to a random corpus start, as a second sentence.
    """

    def __init__(self, texts: list[str], min_len: int = 25, max_len: int = 160) -> None:
        self.min_len, self.max_len = min_len, max_len
        following: dict[str, list[str]] = {}
        for t in texts:
            t = t + "\0"
            for i in range(len(t) - 2):
                following.setdefault(t[i : i + 2], []).append(t[i + 2])
        ids = {c: i for i, c in enumerate(following)}
        sizes = [len(v) for v in following.values()]
        self.pair = np.array([[ord(c[0]), ord(c[1])] for c in following], dtype=np.uint32)
        self.count = np.array(sizes, dtype=np.float64)
        self.first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.char = np.array([ord(ch) for v in following.values() for ch in v], dtype=np.uint32)
        # The context after each entry, -1 where the corpus text ended (or the pair is unseen).
        then = [ids.get(c[1] + ch, -1) for c, v in following.items() for ch in v]
        self.then = np.where(self.char == 0, -1, np.array(then, dtype=np.int64))
        self.starts = np.array([ids[t[:2]] for t in texts if len(t) > 2], dtype=np.int64)
        self.sentence_end = np.zeros(int(self.char.max()) + 1, dtype=bool)
        for ch in "。！？!?":
            if ord(ch) < len(self.sentence_end):
                self.sentence_end[ord(ch)] = True

    def texts(self, rng: np.random.Generator, n: int, batch: int = 32768) -> list[str]:
        out: list[str] = []
        for lo in range(0, n, batch):
            out += self._batch(rng, min(batch, n - lo))
        return out

    def _batch(self, rng: np.random.Generator, n: int) -> list[str]:
        width = self.max_len + 4  # room for "。" + a new start, and a terminating 0
        buf = np.zeros(n * width, dtype=np.uint32)
        ctx = self.starts[rng.integers(0, len(self.starts), size=n)]
        base = np.arange(n, dtype=np.int64) * width
        buf[base], buf[base + 1] = self.pair[ctx, 0], self.pair[ctx, 1]
        pos = base + 2  # where each running text writes next
        while len(pos):
            k = self.first[ctx] + (rng.random(len(pos)) * self.count[ctx]).astype(np.int64)
            buf[pos] = self.char[k]
            ctx = self.then[k]
            pos += 1
            ended = np.flatnonzero(ctx < 0)
            if len(ended):
                p = pos[ended] - 1  # overwrite the end marker (or the unseen pair's character)
                buf[p] = 0
                short = p % width < self.min_len
                again, p = ended[short], p[short]
                pos[ended[~short]] = -1
                if len(again):
                    close = ~self.sentence_end[buf[p - 1]]
                    buf[p[close]] = ord("。")
                    p = p + close
                    s = self.starts[rng.integers(0, len(self.starts), size=len(p))]
                    buf[p], buf[p + 1] = self.pair[s, 0], self.pair[s, 1]
                    pos[again], ctx[again] = p + 2, s
            alive = (pos >= 0) & (pos % width < self.max_len)
            if not alive.all():
                pos, ctx = pos[alive], ctx[alive]
        # Every row ends in zeros: keep the first as the separator between texts.
        keep = buf != 0
        keep[1:] |= (buf[1:] == 0) & (buf[:-1] != 0)
        return buf[keep].tobytes().decode("utf-32-le").split("\0")[:-1]


_CHAIN = _Markov(_texts({"benign", "criticism"}))
_HARMFUL = sorted(
    {
        s.strip()
        for t in _texts({"defamation", "insult", "threat", "privacy", "discrimination"})
        for s in _SENTENCE_END.split(t)
        if len(s.strip()) >= 6
    }
)


def ordinary_texts(rng: np.random.Generator, n: int) -> list[str]:
    return _CHAIN.texts(rng, n)


def attack_text(rng: np.random.Generator) -> str:
    k = int(rng.integers(2, 4))
    return "".join(_HARMFUL[i] for i in rng.integers(0, len(_HARMFUL), size=k))


_SWAPS = [("らしい", "そうです"), ("です", "だ"), ("絶対に", "二度と"), ("皆さん", "みなさん"),
          ("ください", "下さい"), ("院長", "院長先生"), ("病院", "医院"), ("。", "！")]  # fmt: skip


def reword(rng: np.random.Generator, text: str) -> str:
    """Sentences shuffled, a few words and punctuation swapped: how campaigns dodge filters."""
    sentences = [s for s in _SENTENCE_END.split(text) if s]
    rng.shuffle(sentences)
    out = "".join(sentences)
    for a, b in _SWAPS:
        if rng.random() < 0.4:
            out = out.replace(a, b)
    return out


def evaluate(
    bursts: list, campaigns: list[Campaign], n_clinics: int
) -> dict[str, float | int | str]:
    campaign_of: dict[int, int] = {}
    for i, camp in enumerate(campaigns):
        for rid in camp.review_ids:
            campaign_of[int(rid)] = i
    first_alarm: dict[int, float] = {}
    hits = 0
    false_by_kind: dict[str, int] = {}
    for burst in bursts:
        members = [campaign_of.get(r) for r in burst.review_ids]
        counted: dict[int, int] = {}
        for m in members:
            if m is not None:
                counted[m] = counted.get(m, 0) + 1
        need = min(2, len(members))
        hit = [c for c, k in counted.items() if k >= need]
        if not hit:
            false_by_kind[burst.kind] = false_by_kind.get(burst.kind, 0) + 1
        if hit:
            hits += 1
            for c in hit:
                t = burst.alarm_at.timestamp()
                first_alarm[c] = min(first_alarm.get(c, t), t)
    targets = [i for i, c in enumerate(campaigns) if c.target]
    found = [i for i in targets if i in first_alarm]
    delays = [(first_alarm[i] - campaigns[i].third_post) / DAY_SECONDS for i in found]
    false = len(bursts) - hits
    small = [i for i, c in enumerate(campaigns) if not c.target]
    return {
        "bursts": len(bursts),
        "precision": hits / len(bursts) if bursts else 1.0,
        "target campaigns": len(targets),
        "recall (target)": len(found) / len(targets) if targets else 1.0,
        "recall (others)": sum(i in first_alarm for i in small) / len(small) if small else 1.0,
        "median delay (days)": statistics.median(delays) if delays else float("nan"),
        "alarm within 1 day of 3rd post": sum(d <= 1.0 for d in delays) / len(delays)
        if delays
        else float("nan"),
        "false alarms per clinic-year": false / (n_clinics * YEARS),
        "  of which by kind": ", ".join(
            f"{k} {v / (n_clinics * YEARS):.3f}" for k, v in sorted(false_by_kind.items())
        ),
    }


def run(n: int, *, texts: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    arrays, campaigns = generate(rng, n, texts=texts)
    gen = time.perf_counter() - t0
    until = None
    t0, c0 = time.perf_counter(), time.process_time()
    bursts = detect(arrays, until=until)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    label = "with texts (+ near-duplicates)" if texts else "timeline detectors"
    print(f"\n{n} clinics × {YEARS} years, {len(arrays):,} reviews — {label}")
    load = os.getloadavg()[0]
    print(f"  generated in {gen:.1f} s; detect(): {cpu:.1f} s CPU on one core", end="")
    print(f" ({took:.1f} s wall, machine load average {load:.1f})")
    by_kind: dict[str, int] = {}
    for b in bursts:
        by_kind[b.kind] = by_kind.get(b.kind, 0) + 1
    print(f"  bursts by kind: {dict(sorted(by_kind.items()))}")
    for key, value in evaluate(bursts, campaigns, n).items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {key:<34} {shown}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_text = int(sys.argv[2]) if len(sys.argv) > 2 else n
    print("targets: recall ≥ 0.90 (≥ 5× baseline, ≥ 2 days); ≤ 1 false alarm per clinic-year;")
    print("         alarm within 1 day of the third post; ≤ 30 s for 10,000 clinics × 3 years")
    run(n, texts=False, seed=1)
    if n_text:
        run(n_text, texts=True, seed=2)


if __name__ == "__main__":
    main()
