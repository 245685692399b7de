"""Cross-field rules: search vs item actions, currencies, trips, feedback, offers."""

from __future__ import annotations

import pytest

from schemas import SchemaError, decode, decode_click, decode_consent, decode_feedback
from tests.unit.schemas.samples import raw


def reason(kind: str, payload: bytes) -> str:
    """Return the SchemaError reason for an invalid payload."""
    with pytest.raises(SchemaError) as caught:
        decode(kind, payload)
    return caught.value.reason


def test_search_needs_only_a_destination() -> None:
    click = decode_click(
        raw("clicks", action="search", item_id=None, item_type=None, price=None, currency=None)
    )
    assert click.action == "search"
    assert click.destination == "sanya"


def test_search_without_destination_is_rejected() -> None:
    payload = raw("clicks", action="search", item_id=None, item_type=None, destination=None)
    assert reason("clicks", payload) == (
        "clicks: field 'destination' is required when action is 'search'"
    )


@pytest.mark.parametrize("action", ["view", "click", "wishlist", "share"])
def test_item_actions_need_item_id_and_type(action: str) -> None:
    assert decode_click(raw("clicks", action=action, destination=None)).item_id == "hotel-123"
    assert reason("clicks", raw("clicks", action=action, item_id=None)) == (
        f"clicks: field 'item_id' is required when action is '{action}'"
    )
    assert reason("clicks", raw("clicks", action=action, item_type=None)) == (
        f"clicks: field 'item_type' is required when action is '{action}'"
    )


def test_price_needs_a_currency() -> None:
    assert reason("clicks", raw("clicks", currency=None)) == (
        "clicks: field 'currency' is required when price is set"
    )
    assert decode_click(raw("clicks", price=None, currency=None)).price is None


def test_offer_item_price_needs_a_currency() -> None:
    offer = raw("offers").replace(b',"currency":"CNY"', b"")
    assert reason("offers", offer) == (
        "offers: field 'items.0.currency' is required when price is set"
    )


@pytest.mark.parametrize("kind", ["clicks", "bookings"])
def test_trip_cannot_end_before_it_starts(kind: str) -> None:
    payload = raw(kind, travel_start="2024-07-08", travel_end="2024-07-01")
    assert reason(kind, payload) == f"{kind}: field 'travel_end' must not be before travel_start"


def test_same_day_trip_is_fine() -> None:
    click = decode_click(raw("clicks", travel_start="2024-07-08", travel_end="2024-07-08"))
    assert click.travel_end == click.travel_start


def test_booking_without_end_date_is_fine() -> None:
    assert decode("bookings", raw("bookings", travel_end=None)).v == 1


def test_complaint_needs_a_category() -> None:
    assert reason("feedback", raw("feedback", category=None)) == (
        "feedback: field 'category' is required when kind is 'complaint'"
    )


def test_rating_needs_a_rating() -> None:
    assert reason("feedback", raw("feedback", kind="rating", category=None)) == (
        "feedback: field 'rating' is required when kind is 'rating'"
    )
    assert decode_feedback(raw("feedback", kind="rating", rating=4.5)).rating == 4.5


def test_review_needs_neither() -> None:
    feedback = decode_feedback(raw("feedback", kind="review", category=None, item_id=None))
    assert feedback.kind == "review"


def test_offer_must_expire_after_creation() -> None:
    payload = raw("offers", expires_at=1_717_000_000.25)
    assert reason("offers", payload) == "offers: field 'expires_at' must be after created_at"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires"])
def test_consent_accepts_iana_zones(zone: str) -> None:
    assert decode_consent(raw("consent", timezone=zone)).timezone == zone


def test_consent_timezone_is_optional() -> None:
    assert decode_consent(raw("consent", timezone=None)).timezone is None
