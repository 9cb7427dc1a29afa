"""Persistent authors: one author posting repeatedly about one clinic, or about many clinics.

A single critical review is a patient's right; the same person posting again and again is what
the guidance means by many individually tolerable posts exceeding 社会的受忍限度 together. Two
patterns are reported:

* ``one_clinic``: at least ``min_posts`` reviews of one clinic by one author, each within
  ``one_clinic_gap_days`` of the previous one (review sites expect one review per visit, and
  most people write one per clinic);
* ``many_clinics``: one author reviewing at least ``min_clinics`` different clinics, each post
  within ``many_clinics_gap_days`` of the previous one — a burst of reviewing that patients
  rarely produce.

Anonymous and "30代 女性"-style placeholder names never count as an author (see
``detector.types.author_key``); the caller gives them the code -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86400.0


@dataclass(frozen=True)
class AuthorParams:
    min_posts: int = 3
    one_clinic_gap_days: float = 180.0
    min_clinics: int = 3
    many_clinics_gap_days: float = 30.0


@dataclass
class AuthorRun:
    scope: str  # "one_clinic" | "many_clinics"
    author: int
    rows: np.ndarray  # indices into the review arrays, time order
    alarm_time: float  # when the pattern became visible (the post that completed it)
    clinics: list[int]


def _runs(times: np.ndarray, gap: float) -> list[np.ndarray]:
    """Split sorted times into runs where each step is at most ``gap``."""
    breaks = np.flatnonzero(np.diff(times) > gap) + 1
    return np.split(np.arange(len(times)), breaks)


def author_runs(
    clinic_id: np.ndarray, author: np.ndarray, time: np.ndarray, params: AuthorParams
) -> list[AuthorRun]:
    named = np.flatnonzero(author >= 0)
    if named.size == 0:
        return []
    runs: list[AuthorRun] = []
    # One author, one clinic.
    clinic_codes = np.unique(clinic_id[named], return_inverse=True)[1]
    pair = author[named].astype(np.int64) * (int(clinic_codes.max()) + 1) + clinic_codes
    uniq, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    busy = named[counts[inverse] >= params.min_posts]
    if busy.size:
        order = busy[np.lexsort((time[busy], clinic_id[busy], author[busy]))]
        keys = np.stack([author[order], clinic_id[order]], axis=1)
        splits = np.flatnonzero((np.diff(keys, axis=0) != 0).any(axis=1)) + 1
        for group in np.split(order, splits):
            for idx in _runs(time[group], params.one_clinic_gap_days * DAY):
                if len(idx) >= params.min_posts:
                    rows = group[idx]
                    runs.append(
                        AuthorRun(
                            scope="one_clinic",
                            author=int(author[rows[0]]),
                            rows=rows,
                            alarm_time=float(time[rows[params.min_posts - 1]]),
                            clinics=[int(clinic_id[rows[0]])],
                        )
                    )
    # One author, many clinics.
    uniq_a, inv_a, counts_a = np.unique(author[named], return_inverse=True, return_counts=True)
    several = named[counts_a[inv_a] >= params.min_clinics]
    if several.size:
        order = several[np.lexsort((time[several], author[several]))]
        splits = np.flatnonzero(np.diff(author[order]) != 0) + 1
        for group in np.split(order, splits):
            if len(np.unique(clinic_id[group])) < params.min_clinics:
                continue
            for idx in _runs(time[group], params.many_clinics_gap_days * DAY):
                rows = group[idx]
                seen: list[int] = []
                alarm = None
                for row in rows:
                    c = int(clinic_id[row])
                    if c not in seen:
                        seen.append(c)
                        if len(seen) == params.min_clinics:
                            alarm = float(time[row])
                if alarm is not None:
                    runs.append(
                        AuthorRun(
                            scope="many_clinics",
                            author=int(author[rows[0]]),
                            rows=rows,
                            alarm_time=alarm,
                            clinics=seen,
                        )
                    )
    return runs
