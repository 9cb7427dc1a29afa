"""When did a review happen, for burst purposes? The one rule, in one place.

1. The site printed an exact date (``posted_at_exact``): use ``posted_at`` — but never later than
   ``first_seen_at`` (a review cannot be posted after we saw it; a later date is a time-zone or
   clock error on the site).
2. Otherwise (relative dates such as "3日前", or no date at all) use ``first_seen_at``: with
   nightly crawls it is within a day of the real posting time, closer than "2か月前" ever is.
3. Except for reviews that were already there when we started watching the listing (first seen
   within ``INITIAL_SIGHTING`` of the listing's first sighting): their ``first_seen_at`` is only
   the day we registered the listing, and timing them by it would make every new listing look
   like a flood. They are timed by the estimated ``posted_at`` when there is one and left out of
   the timelines otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

INITIAL_SIGHTING = timedelta(days=1)


def burst_time(
    *,
    posted_at: datetime | None,
    posted_at_exact: bool,
    first_seen_at: datetime,
    listing_first_seen_at: datetime,
) -> datetime | None:
    if posted_at is not None and posted_at_exact:
        return min(posted_at, first_seen_at)
    if first_seen_at - listing_first_seen_at < INITIAL_SIGHTING:
        return min(posted_at, first_seen_at) if posted_at is not None else None
    return first_seen_at
