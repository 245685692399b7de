"""Item popularity per market (destination) and day: what is popular and what is trending.

The worker adds each event's weight to a per-day sorted set for the item's destination and
for all markets, in the same atomic commit as the profiles (so replays never double-count).
Readers merge the top of a few recent days with a decay per day; merging the tops only is
approximate but needs O(days * log n) Redis work instead of a union over whole sets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from recommender.profile import Touch

ALL_MARKETS = "_all"
SECONDS_PER_DAY = 86_400


def day_of(ts: float) -> str:
    """UTC day bucket of a Unix time, 'YYYYMMDD'."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y%m%d")


def increments(
    touches: Iterable[Touch], weights: Mapping[str, float]
) -> dict[tuple[str, str], dict[str, float]]:
    """(day, market) -> item -> added weight, for the item events of one batch."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    days: dict[int, str] = {}  # formatting a date costs more than the rest of the loop
    for t in touches:
        w = weights.get(t.action, 0.0)
        if t.item is None or w <= 0.0:
            continue
        n = int(t.ts // SECONDS_PER_DAY)
        day = days.get(n)
        if day is None:
            day = days[n] = day_of(t.ts)
        item_id = t.item.item_id
        for market in (t.item.destination or t.destination, ALL_MARKETS):
            if not market:
                continue
            bucket = out.get((day, market))
            if bucket is None:
                bucket = out[(day, market)] = {}
            bucket[item_id] = bucket.get(item_id, 0.0) + w
    return out


def recent_days(now: float, days: int) -> list[str]:
    """Day buckets from today backwards."""
    return [day_of(now - i * SECONDS_PER_DAY) for i in range(days)]


def merge_days(
    tops: Sequence[Sequence[tuple[str, float]]], day_decay: float, n: int
) -> list[tuple[str, float]]:
    """Merge per-day top lists (today first) with weight day_decay**age; best n, score 0..1."""
    scores: dict[str, float] = {}
    for age, rows in enumerate(tops):
        f = day_decay**age
        for item, score in rows:
            scores[item] = scores.get(item, 0.0) + f * score
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    top = best[0][1] if best else 1.0
    return [(item, score / top) for item, score in best]
