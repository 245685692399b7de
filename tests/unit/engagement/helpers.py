"""Shared builders for engagement tests: UTC times, policies, states with bookings."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.loyalty import apply_booking
from recommender.engagement.state import BookingStatus, CustomerState

T0 = datetime(2024, 6, 1, tzinfo=UTC).timestamp()
DAY = DAY_S
HOUR = 3600.0


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    """Unix time of a UTC wall time, e.g. utc(2024, 3, 10, 7)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()


def local(
    zone: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, *, fold: int = 0
) -> float:
    """Unix time of a wall time in an IANA zone (fold=1: the second of a repeated hour)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def policy(**overrides: object) -> EngagementPolicy:
    """The default policy with some fields changed (validated like the env would be)."""
    return EngagementPolicy.model_validate({**EngagementPolicy().model_dump(), **overrides})


def book(
    s: CustomerState,
    booking_id: str,
    *,
    ts: float,
    amount: float = 1000.0,
    status: BookingStatus = "confirmed",
    item_type: str = "hotel",
    item_id: str = "h1",
    destination: str = "paris",
    p: EngagementPolicy | None = None,
) -> CustomerState:
    return apply_booking(
        s,
        booking_id=booking_id,
        status=status,
        ts=ts,
        amount=amount,
        item_id=item_id,
        item_type=item_type,
        destination=destination,
        policy=p or EngagementPolicy(),
    )
