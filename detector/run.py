"""Runs every detector over one set of reviews and turns their findings into burst candidates."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from detector.authors import AuthorParams, author_runs
from detector.days import day_index, day_start
from detector.duplicates import DuplicateParams, duplicate_clusters
from detector.timeline import (
    DayBurst,
    TimelineParams,
    scan_counts,
    scan_ratings,
    weekday_factors,
)
from detector.types import (
    AUTHOR,
    DUPLICATE,
    HARMFUL,
    KINDS,
    RATING_DROP,
    VOLUME,
    BurstCandidate,
    ReviewArrays,
    from_epoch,
)


@dataclass(frozen=True)
class DetectorParams:
    timeline: TimelineParams = field(default_factory=TimelineParams)
    duplicates: DuplicateParams = field(default_factory=DuplicateParams)
    authors: AuthorParams = field(default_factory=AuthorParams)


def detect(
    reviews: ReviewArrays,
    params: DetectorParams | None = None,
    *,
    kinds: Collection[str] = KINDS,
    report_clinics: Iterable[int] | None = None,
    until: datetime | None = None,
) -> list[BurstCandidate]:
    """All burst candidates in ``reviews``.

    ``report_clinics`` limits which clinics' bursts are returned (the cross-clinic detectors still
    look at every review given); ``until`` extends the day grid to "now" so that quiet days at the
    end count as observed days.
    """
    params = params or DetectorParams()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown burst kinds: {sorted(unknown)}")
    if len(reviews) == 0:
        return []
    wanted = None if report_clinics is None else {int(c) for c in report_clinics}
    out: list[BurstCandidate] = []
    if {VOLUME, HARMFUL, RATING_DROP} & set(kinds):
        out += _timeline_bursts(reviews, params.timeline, kinds, wanted, until)
    if DUPLICATE in kinds and reviews.texts is not None:
        out += _duplicate_bursts(reviews, params.duplicates, wanted)
    if AUTHOR in kinds:
        out += _author_bursts(reviews, params.authors, wanted)
    out.sort(key=lambda b: (b.clinic_id, b.start, b.kind))
    return out


def _timeline_bursts(
    reviews: ReviewArrays,
    params: TimelineParams,
    kinds: Collection[str],
    wanted: set[int] | None,
    until: datetime | None,
) -> list[BurstCandidate]:
    days = day_index(reviews.time)
    first_day = int(days.min())
    last_day = int(days.max())
    if until is not None:
        last_day = max(last_day, int(day_index(np.array([until.timestamp()]))[0]))
    n_days = last_day - first_day + 1
    # Grouped by clinic (time order within a clinic is not needed: everything is binned by day).
    order = np.argsort(reviews.clinic_id, kind="stable")
    clinic_sorted = reviews.clinic_id[order]
    clinic_start = np.flatnonzero(np.r_[True, clinic_sorted[1:] != clinic_sorted[:-1]])
    clinics = clinic_sorted[clinic_start]
    clinic_end = np.append(clinic_start[1:], len(order))
    if wanted is not None:
        keep = np.isin(clinics, np.fromiter(wanted, dtype=np.int64))
        clinics, clinic_start, clinic_end = clinics[keep], clinic_start[keep], clinic_end[keep]
    out: list[BurstCandidate] = []
    rated_all: np.ndarray | None = None
    for lo in range(0, len(clinics), params.chunk_clinics):
        chunk = slice(lo, lo + params.chunk_clinics)
        c_ids, c_start, c_end = clinics[chunk], clinic_start[chunk], clinic_end[chunk]
        rows_idx = np.concatenate([order[s:e] for s, e in zip(c_start, c_end, strict=True)])
        local = np.repeat(np.arange(len(c_ids)), c_end - c_start)
        cell = local * n_days + (days[rows_idx] - first_day)
        size = len(c_ids) * n_days
        shape = (len(c_ids), n_days)
        counts = np.bincount(cell, minlength=size).reshape(shape).astype(np.float64)
        # A clinic's history starts with its first review.
        offsets = np.concatenate([[0], np.cumsum(c_end - c_start)[:-1]])
        observed_from = np.minimum.reduceat(days[rows_idx], offsets) - first_day
        fday = weekday_factors(counts, first_day, observed_from, params)

        def members(
            burst: DayBurst,
            extra: np.ndarray | None = None,
            c_start: np.ndarray = c_start,
            c_end: np.ndarray = c_end,
        ) -> np.ndarray:
            s, e = c_start[burst.row], c_end[burst.row]
            rows = order[s:e]
            d = days[rows] - first_day
            mask = (d >= burst.first) & (d <= burst.last)
            if extra is not None:
                mask &= extra[rows]
            return rows[mask]

        found: list[tuple[str, DayBurst, np.ndarray]] = []
        if VOLUME in kinds:
            found += [
                (VOLUME, b, members(b)) for b in scan_counts(counts, fday, observed_from, params)
            ]
        if HARMFUL in kinds:
            flagged = np.bincount(
                cell, weights=reviews.flagged[rows_idx].astype(np.float64), minlength=size
            ).reshape(shape)
            found += [
                (HARMFUL, b, members(b, reviews.flagged))
                for b in scan_counts(flagged, fday, observed_from, params)
            ]
        if RATING_DROP in kinds:
            if rated_all is None:
                rated_all = ~np.isnan(reviews.rating)
            rating = reviews.rating[rows_idx]
            rated = ~np.isnan(rating)
            r0 = np.where(rated, rating, 0.0)
            r_count = np.bincount(cell, weights=rated.astype(np.float64), minlength=size)
            r_sum = np.bincount(cell, weights=r0, minlength=size)
            r_sq = np.bincount(cell, weights=r0 * r0, minlength=size)
            found += [
                (RATING_DROP, b, members(b, rated_all))
                for b in scan_ratings(
                    r_count.reshape(shape),
                    r_sum.reshape(shape),
                    r_sq.reshape(shape),
                    observed_from,
                    params,
                )
            ]
        for kind, burst, rows in found:
            details: dict[str, object] = {"p_value": burst.p_value}
            if burst.kleinberg is not None:
                details["kleinberg"] = burst.kleinberg
            if burst.extra:
                details.update(burst.extra)
            out.append(
                BurstCandidate(
                    clinic_id=int(c_ids[burst.row]),
                    kind=kind,
                    start=day_start(first_day + burst.first),
                    end=day_start(first_day + burst.last + 1),
                    observed=burst.observed,
                    expected=round(burst.expected, 3),
                    score=burst.score,
                    review_ids=sorted(int(i) for i in reviews.review_id[rows]),
                    harmful_share=_share(reviews.flagged[rows]),
                    alarm_at=day_start(first_day + burst.alarm_day + 1),
                    details=details,
                )
            )
    return out


def _share(flags: np.ndarray) -> float:
    # The same division as flags.mean(), without its per-call overhead (one call per burst).
    return round(int(np.count_nonzero(flags)) / len(flags), 3) if len(flags) else 0.0


def _duplicate_bursts(
    reviews: ReviewArrays, params: DuplicateParams, wanted: set[int] | None
) -> list[BurstCandidate]:
    assert reviews.texts is not None
    out: list[BurstCandidate] = []
    for cluster in duplicate_clusters(reviews.texts, params, reviews.time):
        rows = np.array(cluster, dtype=np.int64)
        rows = rows[np.argsort(reviews.time[rows], kind="stable")]
        clinic_ids = sorted({int(c) for c in reviews.clinic_id[rows]})
        # The cluster becomes visible when its min_cluster-th member is posted.
        visible = float(reviews.time[rows[min(params.min_cluster, len(rows)) - 1]])
        for clinic in clinic_ids:
            if wanted is not None and clinic not in wanted:
                continue
            own = rows[reviews.clinic_id[rows] == clinic]
            out.append(
                BurstCandidate(
                    clinic_id=clinic,
                    kind=DUPLICATE,
                    start=from_epoch(reviews.time[own[0]]),
                    end=from_epoch(reviews.time[own[-1]]),
                    observed=float(len(own)),
                    expected=0.0,
                    score=float(len(rows)),
                    review_ids=sorted(int(i) for i in reviews.review_id[own]),
                    harmful_share=_share(reviews.flagged[own]),
                    alarm_at=from_epoch(max(visible, float(reviews.time[own[0]]))),
                    details={
                        "score_meaning": "reviews in the whole cluster",
                        "cluster_size": len(rows),
                        "cross_clinic": len(clinic_ids) > 1,
                        "clinic_ids": clinic_ids,
                        "cluster_review_ids": sorted(int(i) for i in reviews.review_id[rows])[:500],
                    },
                )
            )
    return out


def _author_bursts(
    reviews: ReviewArrays, params: AuthorParams, wanted: set[int] | None
) -> list[BurstCandidate]:
    out: list[BurstCandidate] = []
    for run in author_runs(reviews.clinic_id, reviews.author, reviews.time, params):
        name = reviews.author_names[run.author] if run.author < len(reviews.author_names) else None
        for clinic in run.clinics:
            if wanted is not None and clinic not in wanted:
                continue
            own = run.rows[reviews.clinic_id[run.rows] == clinic]
            out.append(
                BurstCandidate(
                    clinic_id=clinic,
                    kind=AUTHOR,
                    start=from_epoch(reviews.time[own[0]]),
                    end=from_epoch(reviews.time[own[-1]]),
                    observed=float(len(own)),
                    expected=1.0,
                    score=float(len(run.rows)),
                    review_ids=sorted(int(i) for i in reviews.review_id[own]),
                    harmful_share=_share(reviews.flagged[own]),
                    alarm_at=from_epoch(max(run.alarm_time, float(reviews.time[own[0]]))),
                    details={
                        "score_meaning": "posts by this author in the run",
                        "scope": run.scope,
                        "author": name,
                        "clinic_ids": sorted(run.clinics),
                        "posts": len(run.rows),
                        "run_review_ids": sorted(int(i) for i in reviews.review_id[run.rows])[:500],
                    },
                )
            )
    return out
