"""The user's wall clock: local day keys and quiet hours, correct across DST and midnight.

Quiet hours are wall-clock times, so on a DST day a window can be an hour longer or shorter
than usual, and its end can fall into a skipped hour (spring forward) or happen twice (fall
back). ``quiet_until`` returns the first instant at which the wall clock has left the window.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from recommender.engagement.config import known_zone


@lru_cache(maxsize=1024)
def user_zone(name: str | None, default: str) -> ZoneInfo:
    """The user's zone, or the default one when the name is missing or unknown."""
    return ZoneInfo(name if name and known_zone(name) else default)


def local_day_key(now: float, tz: ZoneInfo) -> str:
    """The user's local calendar date at ``now`` as YYYYMMDD (what a daily cap counts by)."""
    return datetime.fromtimestamp(now, tz).strftime("%Y%m%d")


def in_window(wall: time, start: time, end: time) -> bool:
    """True when a wall time lies in [start, end); a window with start > end spans midnight."""
    if start == end:
        return False
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def in_quiet_hours(now: float, tz: ZoneInfo, start: time, end: time) -> bool:
    """True when the user's wall clock at ``now`` is inside quiet hours."""
    return in_window(datetime.fromtimestamp(now, tz).time(), start, end)


def quiet_until(now: float, tz: ZoneInfo, start: time, end: time) -> float | None:
    """First instant after ``now`` at which quiet hours are over; None when not quiet now."""
    if not in_quiet_hours(now, tz, start, end):
        return None
    today = datetime.fromtimestamp(now, tz).date()
    # The end is today or tomorrow (yesterday's end has passed); on a fall-back day the
    # same wall time happens twice, and the window is left at the first one after now.
    instants = [t for d in (today, today + timedelta(days=1)) for t in _instants(d, end, tz)]
    later = [t for t in instants if t > now and not in_quiet_hours(t, tz, start, end)]
    if later:
        return min(later)
    # Not reachable for a sane window; never hold forever.
    return now + 86_400.0


def _instants(day: date, wall: time, tz: ZoneInfo) -> list[float]:
    """Unix times at which the local clock shows ``wall`` on ``day``, or first passes it.

    Normally one; two at a fall-back overlap; in a spring-forward gap the wall time never
    shows, and the instant the clock jumps past it is returned.
    """
    naive = datetime.combine(day, wall)
    found = []
    for fold in (0, 1):
        t = naive.replace(tzinfo=tz, fold=fold).timestamp()
        if datetime.fromtimestamp(t, tz).replace(tzinfo=None) == naive:
            found.append(t)
    if found:
        return sorted(set(found))
    # In a gap fold=1 lands before the jump and fold=0 after it; find the jump by bisection.
    lo = naive.replace(tzinfo=tz, fold=1).timestamp()
    hi = naive.replace(tzinfo=tz, fold=0).timestamp()
    lo, hi = min(lo, hi), max(lo, hi)
    off_lo = _offset(lo, tz)
    while hi - lo > 1.0:
        mid = (lo + hi) / 2
        if _offset(mid, tz) == off_lo:
            lo = mid
        else:
            hi = mid
    return [float(int(hi))]


def _offset(t: float, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(t, tz).utcoffset()
