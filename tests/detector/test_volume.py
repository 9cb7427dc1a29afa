"""Volume and harmful-volume bursts on hand-made timelines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from detector import HARMFUL, VOLUME, DetectorParams, ReviewArrays, TimelineParams, detect
from detector.timeline import kleinberg_states
from tests.detector.timelines import Timeline


def _bursts(timeline: Timeline, kind: str = VOLUME, params: DetectorParams | None = None):
    found = detect(ReviewArrays.from_points(timeline.points), params, kinds=[kind])
    return [b for b in found if b.kind == kind]


def _steady(timeline: Timeline, clinic: int, days: int, seed: int, rate: float) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate, size=days)
    timeline.daily(clinic, days, lambda d: int(counts[d]))


def test_a_flood_of_posts_is_one_burst_with_its_members() -> None:
    t = Timeline()
    _steady(t, 1, 150, seed=1, rate=2.0)
    flood = t.add(1, 120, 14) + t.add(1, 121, 10)
    bursts = _bursts(t)
    assert len(bursts) == 1
    burst = bursts[0]
    assert set(flood) <= set(burst.review_ids)
    assert burst.start.isoformat() == "2025-05-05T15:00:00+00:00"  # 2025-05-06 JST (day 120)
    assert burst.end.isoformat() == "2025-05-07T15:00:00+00:00"  # end of day 121, exclusive
    assert burst.observed >= 24
    assert burst.expected < 8
    assert burst.score > 8
    # Raised at the end of the first day, not only once the flood was over.
    assert burst.alarm_at.isoformat() == "2025-05-06T15:00:00+00:00"
    assert burst.details["kleinberg"] is True


def test_ordinary_days_of_a_steady_clinic_raise_nothing() -> None:
    t = Timeline()
    for clinic, rate in enumerate((0.05, 0.5, 2.0, 6.0), start=1):
        _steady(t, clinic, 730, seed=clinic, rate=rate)
    assert _bursts(t) == []


def test_a_weekly_monday_peak_is_not_a_burst_but_a_wednesday_flood_is() -> None:
    t = Timeline()
    # Ten reviews every Monday (a clinic that hands out review cards after its Monday clinic),
    # one on Tuesdays and Thursdays, none otherwise.
    t.daily(1, 182, lambda d: {0: 10, 1: 1, 3: 1}.get(d % 7, 0))
    assert _bursts(t) == []

    # The same history without the weekday rhythm (factors pinned to 1) does alarm on Mondays,
    # so it is the weekday model that keeps the Mondays quiet.
    flat = DetectorParams(timeline=TimelineParams(weekday_shrink=1e12))
    assert any(
        b.start.weekday() == 6 for b in _bursts(t, params=flat)
    )  # Sunday 15:00 UTC = Mon JST

    wednesday = 7 * 20 + 2
    extra = t.add(1, wednesday, 9)
    bursts = _bursts(t)
    assert len(bursts) == 1
    assert set(extra) <= set(bursts[0].review_ids)


def test_a_quiet_clinic_does_not_alarm_on_two_posts_but_does_on_four() -> None:
    t = Timeline()
    t.daily(1, 400, lambda d: 1 if d % 30 == 0 else 0)  # one review a month
    t.add(1, 200, 2)
    assert _bursts(t) == []
    t.add(1, 305, 2)
    t.add(1, 306, 2)
    bursts = _bursts(t)
    assert len(bursts) == 1
    assert bursts[0].observed == 4


def test_the_first_weeks_of_a_new_listing_are_not_a_flood() -> None:
    t = Timeline()
    _steady(t, 1, 20, seed=3, rate=4.0)
    assert _bursts(t) == []


def test_flagged_reviews_spike_inside_a_normal_volume() -> None:
    t = Timeline()
    rng = np.random.default_rng(5)
    for day in range(200):
        t.add(1, day, int(rng.poisson(6)))
        if day % 9 == 0:
            t.add(1, day, 1, flagged=True)
    attack = t.add(1, 170, 5, flagged=True)
    harmful = _bursts(t, HARMFUL)
    assert len(harmful) == 1
    assert harmful[0].review_ids == attack
    assert harmful[0].harmful_share == 1.0
    # Five extra posts on a clinic that gets six a day is not a volume burst by itself.
    assert _bursts(t, VOLUME) == []


def test_volume_burst_reports_the_harmful_share_of_its_members() -> None:
    t = Timeline()
    _steady(t, 1, 100, seed=7, rate=1.0)
    t.add(1, 90, 6, flagged=True)
    t.add(1, 90, 6)
    (burst,) = _bursts(t)
    assert 0.4 <= burst.harmful_share <= 0.5


def test_kleinberg_marks_only_the_burst_days_high() -> None:
    counts = np.array([[1.0] * 40 + [8.0] * 4 + [1.0] * 40])
    base = np.ones_like(counts)
    high = kleinberg_states(counts, base, TimelineParams())
    assert high[0].nonzero()[0].tolist() == [40, 41, 42, 43]
    params = replace(TimelineParams(), kleinberg_gamma=50.0)  # going up made too costly
    assert not kleinberg_states(counts, base, params).any()
