"""Is a saved search too broad to be an alert? Its matches a day, estimated from the index.

The estimate is the search's hits over the whole index divided by the days the index's dated
passages span (first to last date, inclusive): a search that would have matched 3,000 passages
of a year of news alerts about 8 times a day. An index without dates counts as one day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from search.results import SearchRequest
from search.searching import SearchEngine


def index_days(engine: SearchEngine) -> int:
    """Days from the index's earliest to its latest passage date, inclusive (1 without dates)."""
    with engine.reading() as snap:
        dates = snap.facets.dates[snap.facets.live]
        dates = dates[dates > 0]
        if dates.size == 0:
            return 1
        first, last = int(np.min(dates)), int(np.max(dates))
    span = _day(last) - _day(first)
    return span.days + 1


def _day(yyyymmdd: int) -> date:
    return date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100)


def estimate_per_day(engine: SearchEngine, request: SearchRequest) -> float:
    """Estimated passages a day the saved search will match (as typed: no relaxed reading)."""
    probe = replace(request, page=1, per_page=1, facet_size=1, autocorrect=False, sort="newest")
    result = engine.search(probe)
    # A graded reading that found nothing is relaxed by /api/search, never by an alert.
    total = 0 if result.query_info.relaxed_from is not None else result.total
    return round(total / index_days(engine), 3)
