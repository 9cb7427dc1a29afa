"""Burst and campaign detection on plain data: no database, no HTTP.

Reviews go in as :class:`ReviewArrays` (or :class:`ReviewPoint` objects), burst candidates come
out. Detectors: ``volume`` and ``harmful`` (negative-binomial tail against a trailing 28-day
baseline with weekday rhythm, Kleinberg's automaton as a second opinion), ``rating_drop``,
``duplicate`` (near-duplicate clusters from sampled character n-grams, within and across clinics)
and ``author`` (persistent authors). How a review is timed is decided by ``detector.timing``.
"""

from detector.authors import AuthorParams
from detector.duplicates import DuplicateParams, duplicate_clusters
from detector.run import DetectorParams, detect
from detector.timeline import TimelineParams
from detector.timing import burst_time
from detector.types import (
    AUTHOR,
    DUPLICATE,
    HARMFUL,
    KINDS,
    RATING_DROP,
    VOLUME,
    BurstCandidate,
    ReviewArrays,
    ReviewPoint,
    author_key,
)

__all__ = [
    "AUTHOR",
    "DUPLICATE",
    "HARMFUL",
    "KINDS",
    "RATING_DROP",
    "VOLUME",
    "AuthorParams",
    "BurstCandidate",
    "DetectorParams",
    "DuplicateParams",
    "ReviewArrays",
    "ReviewPoint",
    "TimelineParams",
    "author_key",
    "burst_time",
    "detect",
    "duplicate_clusters",
]
