"""Timeline detectors: volume, harmful-volume and rating-drop bursts, plus Kleinberg's automaton.

Everything here works on a clinics × days matrix of counts (JST days, see ``detector.days``) and is
vectorised over clinics, so ten thousand clinics' multi-year histories take seconds.

The volume test (also used on flagged reviews only, kind ``harmful``)
---------------------------------------------------------------------
For every window of ``w`` days (w in ``windows``) ending on day ``t``, the number of new reviews
``x`` is compared with what the clinic's own recent past predicts:

* rate: a Gamma–Poisson posterior from the trailing ``baseline_days`` (28) before the window,
  with a prior worth ``prior_days`` days at the clinic's long-run rate (the 364 days before the
  window). The prior matters for quiet clinics, whose 28 days hold zero to two reviews and say
  little on their own; for busy clinics the 28 days dominate.
* weekday rhythm: the window's exposure is the sum of the clinic's weekday factors over its days,
  estimated from the clinic's history before the current quarter (shrunk towards 1), so a clinic
  that always gets its reviews on Mondays does not alarm every Monday. 28 days are exactly four
  weeks, so the baseline holds each weekday four times.
* tail: ``P(X >= x)`` under the negative binomial predictive. Its shape is capped at
  ``max_shape`` so that even a perfectly known rate keeps ~1/sqrt(max_shape) relative spread:
  real review streams are over-dispersed (holidays, a doctor away, a local news item).
* no window starting in a clinic's first ``warmup_days`` is tested (no baseline yet);
* alarms need ``x >= min_count`` so a quiet clinic never alarms on two posts, and
  ``P < alpha``. The score is ``-log10 P``.

Significant windows of one clinic that overlap or touch are merged into one burst, narrowed to
its most significant stretch of days (against the baseline before it). ``alarm_day`` is the end
of the earliest significant window: only data up to that day was needed, so that is when a
nightly run would have raised it.

Kleinberg's two-state automaton (s = 2, γ = 1) is run on the same days as a second opinion: the
burst's ``details['kleinberg']`` says whether the automaton also put any of its days in the
high state. It does not raise alarms on its own (its Viterbi path looks at the whole sequence,
so it cannot time an alarm).

Rating drops
------------
For windows of ``w`` days with at least ``min_count`` star ratings, the window's mean rating is
compared with the mean of the trailing ``rating_baseline_days`` (90; ratings are sparser than
posts): a drop of at least ``min_rating_drop`` stars with a one-sided z-test ``P < alpha``.
For these bursts ``observed`` and ``expected`` are mean star ratings, not counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from detector.days import weekday


@dataclass(frozen=True)
class TimelineParams:
    windows: tuple[int, ...] = (1, 2, 3, 7)
    baseline_days: int = 28
    long_days: int = 364
    # Weight (in days) of the long-run rate as the prior of the 28-day rate.
    prior_days: float = 28.0
    # A clinic with no history at all is assumed quiet: 0.5 reviews per 14 days.
    hyper_count: float = 0.5
    hyper_days: float = 14.0
    max_shape: float = 20.0
    min_count: int = 3
    alpha: float = 1e-4
    # No alarms from windows starting in a clinic's first days: its history (and so its
    # baseline) begins there, and a listing's first reviews are not a flood.
    warmup_days: int = 28
    weekday_shrink: float = 10.0
    # Weekday factors are re-estimated every week from the history before that week.
    weekday_block_days: int = 7
    # Kleinberg's automaton: rate ratio between states and the cost of going up.
    kleinberg_s: float = 2.0
    kleinberg_gamma: float = 1.0
    # Rating drops.
    rating_baseline_days: int = 90
    rating_min_baseline: int = 5
    min_rating_drop: float = 1.0
    rating_variance_floor: float = 0.5
    rating_alpha: float = 1e-4
    # Clinics per vectorised chunk: small enough that a chunk's arrays (chunk × days float64,
    # ~4 MB each for three years) can stay in the last-level cache. Timeline detectors on the
    # 10,000-clinic benchmark history: 8.6 s CPU with 500, 9.7 s with 1,000, 12.3 s with 2,000.
    chunk_clinics: int = 500


@dataclass
class DayBurst:
    """A burst on the day grid: row of the clinic in the matrix, first and last day (inclusive)."""

    row: int
    first: int
    last: int
    alarm_day: int
    observed: float
    expected: float
    score: float
    p_value: float
    kleinberg: bool | None = None
    extra: dict[str, float] | None = None


def nbinom_sf(x: np.ndarray, r: np.ndarray | float, p: np.ndarray) -> np.ndarray:
    """``P(X >= x)`` for the negative binomial (failures before the r-th success, success p).

    Written with the regularised incomplete beta directly: P(X >= x) = I_{1-p}(x, r).
    """
    # SciPy is imported here, not at the top: importing the web app (which imports this module
    # through the bursts router) should not pay for loading SciPy.
    from scipy.special import betainc

    result: np.ndarray = betainc(x, r, 1.0 - p)
    return result


def weekday_factors(
    counts: np.ndarray, first_day: int, observed_from: np.ndarray, params: TimelineParams
) -> np.ndarray:
    """Per clinic and day, the day's weekday factor (mean 1), from data before the day's block.

    Days before a clinic's ``observed_from`` get 0: they are not part of its exposure.
    """
    n, days = counts.shape
    block = params.weekday_block_days
    wk = np.asarray(weekday(np.arange(first_day, first_day + days)))
    n_blocks = (days + block - 1) // block
    day_block = np.arange(days) // block
    # Reviews per (block, weekday): days sorted by that cell and summed in one pass. Counts are
    # whole numbers, so the order of the additions does not change a bit of the result.
    cell = day_block * 7 + wk
    by_cell = np.argsort(cell, kind="stable")
    first = np.flatnonzero(np.r_[True, np.diff(cell[by_cell]) != 0])
    in_cell = np.zeros((n, n_blocks * 7), dtype=np.float64)
    in_cell[:, cell[by_cell][first]] = np.add.reduceat(counts[:, by_cell], first, axis=1)
    in_cell = in_cell.reshape(n, n_blocks, 7)
    # per_weekday[c, b, k]: reviews on weekday k before block b.
    per_weekday = np.cumsum(in_cell, axis=1)
    per_weekday -= in_cell
    total = per_weekday.sum(axis=2, keepdims=True)
    shrink = params.weekday_shrink
    factors = (per_weekday + shrink) / (total / 7.0 + shrink)
    factors /= factors.mean(axis=2, keepdims=True)
    fday: np.ndarray = factors[:, day_block, wk]
    fday[np.arange(days)[None, :] < observed_from[:, None]] = 0.0
    return fday


def _cum(a: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1, dtype=np.float64)], axis=1
    )


def _trailing(cum: np.ndarray, span: int) -> np.ndarray:
    """Per row and day ``d``, the sum over the ``span`` days before ``d`` (from a ``_cum``)."""
    days = cum.shape[1] - 1
    out = cum[:, :days].copy()  # column 0 of a _cum is 0: the first days sum from the start
    if span < days:
        out[:, span:] -= cum[:, : days - span]
    return out


def _baseline_rate(
    s_cum: np.ndarray, f_cum: np.ndarray, params: TimelineParams
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior shape ``a`` and rate ``b`` of the daily rate before each day."""
    c_long = _trailing(s_cum, params.long_days)
    c_long += params.hyper_count
    rho_long = _trailing(f_cum, params.long_days)
    rho_long += params.hyper_days
    np.divide(c_long, rho_long, out=rho_long)
    a = _trailing(s_cum, params.baseline_days)
    rho_long *= params.prior_days
    a += rho_long
    b = _trailing(f_cum, params.baseline_days)
    b += params.prior_days
    return a, b


def scan_counts(
    counts: np.ndarray,
    fday: np.ndarray,
    observed_from: np.ndarray,
    params: TimelineParams,
    *,
    kleinberg: bool = True,
) -> list[DayBurst]:
    """Volume bursts in a clinics × days count matrix (one chunk), with Kleinberg's opinion."""
    n, days = counts.shape
    warm = (observed_from + params.warmup_days)[:, None]
    s_cum = _cum(counts)
    f_cum = _cum(fday)
    hits: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # rows, first, last, p
    # The baseline before every day, computed once: windows starting on day d all share it.
    rate_a, rate_b = _baseline_rate(s_cum, f_cum, params)
    day_rate = rate_a / rate_b  # the rate expected for day d from the days before it
    shape_all = np.minimum(rate_a, params.max_shape)
    # Whole-matrix temporaries are written in place: fresh pages cost as much as the arithmetic.
    for w in params.windows:
        if w > days:
            continue
        m = days - w + 1
        starts = np.arange(0, m)
        x = s_cum[:, w:] - s_cum[:, :m]
        candidate = x >= params.min_count
        candidate &= starts[None, :] >= warm
        if not candidate.any():
            continue
        mu = f_cum[:, w:] - f_cum[:, :m]  # exposure, then the expected count
        mu *= day_rate[:, :m]
        # Cheap filter before the exact tail: a count within 3 standard deviations of the mean
        # has a tail probability far above alpha (the negative binomial's right tail is heavier
        # than the normal's, which is already 1.3e-3 there).
        bound = mu / shape_all[:, :m]
        bound += 1.0
        bound *= mu
        np.sqrt(bound, out=bound)
        bound *= 3.0
        bound += mu
        candidate &= x > bound
        rows, cols = np.nonzero(candidate)
        if rows.size == 0:
            continue
        shape = shape_all[rows, cols]
        mu_c = mu[rows, cols]
        p_success = shape / (shape + mu_c)
        pv = nbinom_sf(x[rows, cols], shape, p_success)
        significant = pv < params.alpha
        if significant.any():
            first = starts[cols[significant]]
            hits.append((rows[significant], first, first + w - 1, pv[significant]))
    if not hits:
        return []
    bursts = _merge(hits, counts, fday, rate_a, rate_b, params)
    if kleinberg and bursts:
        rows = np.unique([b.row for b in bursts])
        high = kleinberg_states(counts[rows], day_rate[rows] * fday[rows], params)
        where = {int(row): i for i, row in enumerate(rows)}
        for burst in bursts:
            burst.kleinberg = bool(high[where[burst.row], burst.first : burst.last + 1].any())
    return bursts


def _merge(
    hits: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    counts: np.ndarray,
    fday: np.ndarray,
    rate_a: np.ndarray,
    rate_b: np.ndarray,
    params: TimelineParams,
) -> list[DayBurst]:
    rows = np.concatenate([h[0] for h in hits])
    first = np.concatenate([h[1] for h in hits])
    last = np.concatenate([h[2] for h in hits])
    pv = np.concatenate([h[3] for h in hits])
    order = np.lexsort((first, rows))
    bursts: list[DayBurst] = []
    i = 0
    total = len(order)
    while i < total:
        k = order[i]
        row, lo, hi, alarm, best = int(rows[k]), int(first[k]), int(last[k]), int(last[k]), pv[k]
        i += 1
        while i < total and rows[order[i]] == row and first[order[i]] <= hi + 1:
            k = order[i]
            hi = max(hi, int(last[k]))
            alarm = min(alarm, int(last[k]))
            best = min(best, pv[k])
            i += 1
        bursts.append(_core(row, lo, hi, alarm, float(best), counts, fday, rate_a, rate_b, params))
    return bursts


def _core(
    row: int,
    lo: int,
    hi: int,
    alarm: int,
    p_value: float,
    counts: np.ndarray,
    fday: np.ndarray,
    rate_a: np.ndarray,
    rate_b: np.ndarray,
    params: TimelineParams,
) -> DayBurst:
    """Narrow merged windows to their most significant stretch of days.

    A 7-day window around a one-day flood also holds six ordinary days; the burst's members
    should be the flood. The baseline is the one before the merged windows began: later days'
    baselines already include the burst.
    """
    a, b = float(rate_a[row, lo]), float(rate_b[row, lo])
    shape = min(a, params.max_shape)
    c = np.concatenate([[0.0], np.cumsum(counts[row, lo : hi + 1])])
    f = np.concatenate([[0.0], np.cumsum(fday[row, lo : hi + 1])])
    starts, ends = _stretches(hi - lo + 1)
    x = c[ends + 1] - c[starts]
    mu = (f[ends + 1] - f[starts]) * a / b
    pv = np.where(x > 0, nbinom_sf(np.maximum(x, 1e-9), shape, shape / (shape + mu)), 1.0)
    best = int(np.argmin(pv))
    first, last = lo + int(starts[best]), lo + int(ends[best])
    return DayBurst(
        row=row,
        first=first,
        last=last,
        alarm_day=max(alarm, first),
        observed=float(x[best]),
        expected=float(mu[best]),
        score=_score(p_value),
        p_value=p_value,
    )


@cache
def _stretches(days: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last day of every stretch of ``days`` days (read-only: shared between bursts)."""
    starts, ends = np.triu_indices(days)
    starts.setflags(write=False)
    ends.setflags(write=False)
    return starts, ends


def _score(p_value: float) -> float:
    return round(-math.log10(max(p_value, 1e-300)), 3)


def kleinberg_states(
    counts: np.ndarray, base_rate: np.ndarray, params: TimelineParams
) -> np.ndarray:
    """Kleinberg's two-state automaton on daily counts, vectorised over rows (Viterbi).

    State 0 emits Poisson(base), state 1 Poisson(s · base); moving up costs γ·ln(n) with n the
    number of observed days, moving down is free. Returns a bool matrix: True where the optimal
    state sequence is in the high state.
    """
    n, days = counts.shape
    observed = base_rate > 0
    n_days = np.maximum(observed.sum(axis=1), 2)
    up_cost = params.kleinberg_gamma * np.log(n_days)
    rate0 = np.maximum(base_rate, 1e-3)
    rate1 = params.kleinberg_s * rate0
    # Poisson negative log-likelihood without the x! term (equal in both states).
    cost0 = rate0 - counts * np.log(rate0)
    cost1 = rate1 - counts * np.log(rate1)
    cost0[~observed] = 0.0
    cost1[~observed] = 0.0
    # Day-major from here on, every step in place: the recursion is one Python step per day, so
    # each step should be few numpy calls on contiguous rows.
    cost0 = np.ascontiguousarray(cost0.T)
    cost1 = np.ascontiguousarray(cost1.T)
    best0 = np.zeros(n)
    best1 = np.full(n, np.inf)
    up = np.empty(n)
    from1_to0 = np.empty((days, n), dtype=bool)  # came from state 1 when ending in state 0
    from0_to1 = np.empty((days, n), dtype=bool)  # came from state 0 when ending in state 1
    for d in range(days):
        np.add(best0, up_cost, out=up)
        np.less(best1, best0, out=from1_to0[d])  # moving down is free
        np.less_equal(up, best1, out=from0_to1[d])
        np.minimum(best0, best1, out=best0)
        np.minimum(up, best1, out=best1)
        best0 += cost0[d]
        best1 += cost1[d]
    high = np.empty((days, n), dtype=bool)
    state = best1 < best0
    for d in range(days - 1, -1, -1):
        high[d] = state
        # The state the day before: where the best path into today's state came from.
        state = np.where(state, ~from0_to1[d], from1_to0[d])
    return high.T


def scan_ratings(
    rating_count: np.ndarray,
    rating_sum: np.ndarray,
    rating_sumsq: np.ndarray,
    observed_from: np.ndarray,
    params: TimelineParams,
) -> list[DayBurst]:
    """Windows whose mean star rating fell well below the trailing baseline mean."""
    from scipy.stats import norm  # not at import time: see nbinom_sf

    n, days = rating_count.shape
    c_cum, s_cum, q_cum = _cum(rating_count), _cum(rating_sum), _cum(rating_sumsq)
    hits: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # The trailing baseline before every day (shared by all windows starting that day).
    all_days = np.arange(days)
    span = params.rating_baseline_days
    baseline_n = _trailing(c_cum, span)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline_mean = _trailing(s_cum, span)
        baseline_mean /= baseline_n
        baseline_var = _trailing(q_cum, span)
        baseline_var /= baseline_n
        baseline_var -= baseline_mean**2
        np.maximum(baseline_var, params.rating_variance_floor, out=baseline_var)
    usable = (baseline_n >= params.rating_min_baseline) & (
        all_days[None, :] >= (observed_from + params.warmup_days)[:, None]
    )
    for w in params.windows:
        if w > days:
            continue
        m = days - w + 1
        nw = c_cum[:, w:] - c_cum[:, :m]
        sw = s_cum[:, w:] - s_cum[:, :m]
        # Cheap filter first: enough ratings, and a mean at least min_rating_drop below.
        candidate = (
            usable[:, :m]
            & (nw >= params.min_count)
            & (sw <= (baseline_mean[:, :m] - params.min_rating_drop) * nw)
        )
        rows, cols = np.nonzero(candidate)
        if rows.size == 0:
            continue
        nw_c, nb_c = nw[rows, cols], baseline_n[rows, cols]
        drop = baseline_mean[rows, cols] - sw[rows, cols] / nw_c
        var = baseline_var[rows, cols]
        z = drop / np.sqrt(var * (1.0 / nw_c + 1.0 / nb_c))
        pv = norm.sf(z)
        significant = pv < params.rating_alpha
        if significant.any():
            r, first = rows[significant], cols[significant]
            hits.append((r, first, first + w - 1, pv[significant]))
    if not hits:
        return []
    rows = np.concatenate([h[0] for h in hits])
    first = np.concatenate([h[1] for h in hits])
    last = np.concatenate([h[2] for h in hits])
    pv = np.concatenate([h[3] for h in hits])
    order = np.lexsort((first, rows))
    bursts: list[DayBurst] = []
    i = 0
    while i < len(order):
        k = order[i]
        row, lo, hi, alarm, best = int(rows[k]), int(first[k]), int(last[k]), int(last[k]), pv[k]
        base = float(baseline_mean[row, lo])
        i += 1
        while i < len(order) and rows[order[i]] == row and first[order[i]] <= hi + 1:
            k = order[i]
            hi, alarm, best = max(hi, int(last[k])), min(alarm, int(last[k])), min(best, pv[k])
            i += 1
        lo, hi, mean, count = _worst_stretch(
            rating_count[row, lo : hi + 1],
            rating_sum[row, lo : hi + 1],
            base,
            float(baseline_var[row, lo]),
            float(baseline_n[row, lo]),
            lo,
            params,
        )
        bursts.append(
            DayBurst(
                row=row,
                first=lo,
                last=hi,
                alarm_day=max(alarm, lo),
                observed=round(mean, 3),
                expected=round(base, 3),
                score=_score(float(best)),
                p_value=float(best),
                extra={"ratings": count},
            )
        )
    return bursts


def _worst_stretch(
    count: np.ndarray,
    total: np.ndarray,
    base: float,
    var: float,
    n_base: float,
    offset: int,
    params: TimelineParams,
) -> tuple[int, int, float, float]:
    """The stretch of days (with at least ``min_count`` ratings) that fell furthest below ``base``.

    Merged windows span calm days too; the burst's members should be the low ratings. Every
    sub-stretch is scored with the same z-test as the windows and the most significant is kept.
    """
    c = np.concatenate([[0.0], np.cumsum(count)])
    s = np.concatenate([[0.0], np.cumsum(total)])
    starts, ends = _stretches(len(count))
    nw = c[ends + 1] - c[starts]
    ok = nw >= params.min_count
    if not ok.any():
        ok = nw > 0
    starts, ends, nw = starts[ok], ends[ok], nw[ok]
    mean = (s[ends + 1] - s[starts]) / nw
    z = (base - mean) / np.sqrt(var * (1.0 / nw + 1.0 / n_base))
    best = int(np.argmax(z))
    first, last = int(starts[best]), int(ends[best])
    # Stretches that differ only by empty days score alike: keep the one without them.
    while count[first] == 0 and first < last:
        first += 1
    while count[last] == 0 and last > first:
        last -= 1
    return offset + first, offset + last, float(mean[best]), float(nw[best])
