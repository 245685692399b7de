"""Local day keys and quiet hours across DST, midnight and extreme UTC offsets."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.localtime import (
    in_quiet_hours,
    in_window,
    local_day_key,
    quiet_until,
    user_zone,
)
from tests.unit.engagement.helpers import HOUR, local, utc

NIGHT = (time(22), time(8))
NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def test_window_spanning_midnight() -> None:
    start, end = NIGHT
    assert in_window(time(22), start, end)
    assert in_window(time(23, 59, 59), start, end)
    assert in_window(time(0), start, end)
    assert in_window(time(7, 59, 59), start, end)
    assert not in_window(time(8), start, end)
    assert not in_window(time(21, 59, 59), start, end)


def test_window_within_a_day_and_an_empty_window() -> None:
    assert in_window(time(13), time(13), time(15))
    assert not in_window(time(15), time(13), time(15))
    assert not in_window(time(12, 59), time(13), time(15))
    assert not in_window(time(3), time(4), time(4))


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2024, 6, 1, 23, 59, 59), utc(2024, 6, 2, 8)),  # before midnight: tomorrow's end
        (utc(2024, 6, 2, 0), utc(2024, 6, 2, 8)),  # after midnight: today's end
        (utc(2024, 6, 2, 7, 59, 59), utc(2024, 6, 2, 8)),
        (utc(2024, 6, 2, 22), utc(2024, 6, 3, 8)),
    ],
)
def test_quiet_until_across_midnight(now: float, until: float) -> None:
    assert quiet_until(now, ZoneInfo("UTC"), *NIGHT) == until


def test_not_quiet_means_no_hold() -> None:
    assert quiet_until(utc(2024, 6, 2, 8), ZoneInfo("UTC"), *NIGHT) is None
    assert quiet_until(utc(2024, 6, 2, 21, 59), ZoneInfo("UTC"), *NIGHT) is None


@pytest.mark.parametrize(
    ("zone", "night_start", "night_end", "hours"),
    [
        # Spring forward: the 22:00-08:00 night is an hour short.
        ("America/New_York", (2024, 3, 9, 23), (2024, 3, 10, 8), 8),
        ("Europe/Berlin", (2024, 3, 30, 23), (2024, 3, 31, 8), 8),
        # Fall back: an hour long.
        ("America/New_York", (2024, 11, 2, 23), (2024, 11, 3, 8), 10),
        ("Europe/Berlin", (2024, 10, 26, 23), (2024, 10, 27, 8), 10),
    ],
)
def test_quiet_hours_end_at_local_8_on_dst_nights(
    zone: str,
    night_start: tuple[int, int, int, int],
    night_end: tuple[int, int, int, int],
    hours: int,
) -> None:
    now = local(zone, *night_start)
    until = quiet_until(now, ZoneInfo(zone), *NIGHT)
    assert until == local(zone, *night_end)
    assert until is not None and until - now == hours * HOUR


def test_end_inside_the_skipped_hour_is_the_jump() -> None:
    # 02:30 never shows on 2024-03-10 in New York: the clock jumps 02:00 EST -> 03:00 EDT.
    now = local("America/New_York", 2024, 3, 10, 1)
    assert quiet_until(now, NY, time(22), time(2, 30)) == utc(2024, 3, 10, 7)
    now = local("Europe/Berlin", 2024, 3, 31, 1, 30)
    assert quiet_until(now, BERLIN, time(23), time(2, 30)) == utc(2024, 3, 31, 1)


def test_start_inside_the_skipped_hour() -> None:
    start, end = time(2, 30), time(6)
    assert not in_quiet_hours(local("America/New_York", 2024, 3, 10, 1, 59), NY, start, end)
    now = utc(2024, 3, 10, 7)  # 03:00 EDT, just after the jump over 02:30
    assert in_quiet_hours(now, NY, start, end)
    assert quiet_until(now, NY, start, end) == local("America/New_York", 2024, 3, 10, 6)


def test_end_inside_the_repeated_hour() -> None:
    # 01:30 happens twice on 2024-11-03 in New York (EDT, then EST).
    start, end = time(22), time(1, 30)
    first = local("America/New_York", 2024, 11, 3, 1, 30)
    second = local("America/New_York", 2024, 11, 3, 1, 30, fold=1)
    assert second - first == HOUR
    assert quiet_until(local("America/New_York", 2024, 11, 3, 0, 30), NY, start, end) == first
    # After the clock falls back the wall time is inside the window again until 01:30 EST.
    now = local("America/New_York", 2024, 11, 3, 1, 10, fold=1)
    assert in_quiet_hours(now, NY, start, end)
    assert quiet_until(now, NY, start, end) == second


def test_utc_plus_14() -> None:
    kiri = ZoneInfo("Pacific/Kiritimati")
    now = utc(2024, 6, 1, 9, 30)  # 23:30 on June 1 there
    assert local_day_key(now, kiri) == "20240601"
    assert quiet_until(now, kiri, *NIGHT) == utc(2024, 6, 1, 18)  # 08:00 June 2 there
    assert local_day_key(utc(2024, 6, 1, 10), kiri) == "20240602"  # while UTC is on June 1


def test_utc_minus_12() -> None:
    west = ZoneInfo("Etc/GMT+12")  # POSIX sign: GMT+12 is UTC-12
    assert local_day_key(utc(2024, 6, 1, 11, 59), west) == "20240531"
    assert local_day_key(utc(2024, 6, 1, 12), west) == "20240601"
    assert quiet_until(utc(2024, 6, 1, 11), west, *NIGHT) == utc(2024, 6, 1, 20)


def test_day_keys_on_dst_days_follow_the_local_calendar() -> None:
    # 2024-03-10 in New York lasts 23 hours, 2024-11-03 lasts 25.
    assert local_day_key(utc(2024, 3, 10, 4, 59), NY) == "20240309"
    assert local_day_key(utc(2024, 3, 10, 5), NY) == "20240310"
    assert local_day_key(utc(2024, 3, 11, 3, 59), NY) == "20240310"
    assert local_day_key(utc(2024, 3, 11, 4), NY) == "20240311"
    assert local_day_key(utc(2024, 11, 4, 4, 59), NY) == "20241103"
    assert local_day_key(utc(2024, 11, 4, 5), NY) == "20241104"


def test_unknown_zone_falls_back_to_the_default() -> None:
    assert user_zone("Mars/Olympus", "Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert user_zone(None, "UTC") == ZoneInfo("UTC")
    assert user_zone("Europe/Berlin", "UTC") == BERLIN


ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "Australia/Lord_Howe",  # half-hour DST shift
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
wall = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.integers(int(utc(2024, 1, 1)), int(utc(2025, 12, 31))),
    wall,
    wall,
)
def test_quiet_until_is_the_first_instant_out_of_quiet_hours(
    zone: str, now: int, start: time, end: time
) -> None:
    tz = ZoneInfo(zone)
    until = quiet_until(float(now), tz, start, end)
    if not in_quiet_hours(now, tz, start, end):
        assert until is None
        return
    assert until is not None
    assert now < until <= now + timedelta(hours=25).total_seconds()
    assert not in_quiet_hours(until, tz, start, end)
    assert in_quiet_hours(until - 1, tz, start, end)
