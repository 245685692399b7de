"""Inbound event contracts: clicks, bookings, catalog, prices, consent and feedback."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field

from schemas import _docs as doc
from schemas._base import Contract, rule_error
from schemas._jsonrules import required_when, required_with, rules
from schemas._types import (
    Channel,
    Currency,
    Id,
    ItemType,
    Money,
    ScalarMap,
    Slug,
    TimeZoneName,
    UnixSeconds,
)


class Click(Contract):
    """A user interaction on a client: view, search, click, wishlist or share."""

    KIND = "clicks"
    KEY_FIELD = "user_id"
    SCHEMA_NAME = "click"
    model_config = ConfigDict(
        json_schema_extra=rules(
            required_when("action", ["search"], ["destination"]),
            required_when(
                "action", ["view", "click", "wishlist", "share"], ["item_id", "item_type"]
            ),
            required_with("price", ["currency"]),
        )
    )

    event_id: Id = Field(description=doc.EVENT_ID)
    user_id: Id = Field(description=doc.USER_ID + " Kafka key.")
    session_id: Id = Field(description=doc.SESSION_ID)
    action: Literal["view", "search", "click", "wishlist", "share"] = Field(
        description="What the user did; 'search' needs destination, all others item_id+item_type."
    )
    item_id: Id | None = Field(default=None, description=doc.ITEM_ID + " Required unless search.")
    item_type: ItemType | None = Field(
        default=None, description=doc.ITEM_TYPE + " Required unless search."
    )
    destination: Slug | None = Field(
        default=None, description=doc.DESTINATION + " Required for search."
    )
    price: Money | None = Field(default=None, description="Price shown to the user. " + doc.PRICE)
    currency: Currency | None = Field(
        default=None, description=doc.CURRENCY + " Required when price is set."
    )
    device: Literal["ios", "android", "web", "miniapp", "other"] = Field(
        default="other", description="Client platform the event came from."
    )
    ts: UnixSeconds = Field(description=doc.TS)
    travel_start: date | None = Field(default=None, description=doc.TRAVEL_START)
    travel_end: date | None = Field(default=None, description=doc.TRAVEL_END)

    def _check_rules(self) -> None:
        """Require the fields each action needs and a currency for any price."""
        if self.action == "search":
            if self.destination is None:
                raise rule_error("destination", "is required when action is 'search'")
        elif self.item_id is None:
            raise rule_error("item_id", f"is required when action is '{self.action}'")
        elif self.item_type is None:
            raise rule_error("item_type", f"is required when action is '{self.action}'")
        if self.price is not None and self.currency is None:
            raise rule_error("currency", "is required when price is set")
        _check_trip(self.travel_start, self.travel_end)


class Booking(Contract):
    """A booking confirmed or cancelled by a user."""

    KIND = "bookings"
    KEY_FIELD = "user_id"
    SCHEMA_NAME = "booking"

    event_id: Id = Field(description=doc.EVENT_ID)
    user_id: Id = Field(description=doc.USER_ID + " Kafka key.")
    booking_id: Id = Field(description=f"Booking id ({doc.ID_RULE}); same for confirm/cancel.")
    status: Literal["confirmed", "cancelled"] = Field(description="New state of the booking.")
    item_id: Id = Field(description=doc.ITEM_ID)
    item_type: ItemType = Field(description=doc.ITEM_TYPE)
    destination: Slug = Field(description=doc.DESTINATION)
    amount: Money = Field(description="Total paid in `currency` major units; finite, >= 0.")
    currency: Currency = Field(description=doc.CURRENCY)
    travel_start: date = Field(description=doc.TRAVEL_START)
    travel_end: date | None = Field(default=None, description=doc.TRAVEL_END)
    origin: Slug | None = Field(
        default=None, description="Departure city slug for flights, same format as destination."
    )
    ts: UnixSeconds = Field(description=doc.TS)

    def _check_rules(self) -> None:
        """Reject trips that end before they start."""
        _check_trip(self.travel_start, self.travel_end)


class CatalogItem(Contract):
    """Current state of a bookable product; the latest message per item_id wins."""

    KIND = "catalog"
    KEY_FIELD = "item_id"
    SCHEMA_NAME = "catalog_item"
    SCALAR_MAPS = ("attributes",)

    item_id: Id = Field(description=doc.ITEM_ID + " Kafka key.")
    item_type: ItemType = Field(description=doc.ITEM_TYPE)
    destination: Slug = Field(description=doc.DESTINATION)
    price: Money = Field(description="Current lead price. " + doc.PRICE)
    currency: Currency = Field(description=doc.CURRENCY)
    title: str | None = Field(
        default=None, max_length=200, description="Display title, at most 200 chars."
    )
    attributes: ScalarMap = Field(
        default_factory=dict,
        description="Type-specific facts, e.g. stars (1-5) for hotels, cabin and origin for "
        "flights. " + doc.SCALARS,
    )
    active: bool = Field(default=True, description="False once the item can no longer be sold.")
    vector: list[float] | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Optional content embedding, 1-1024 finite numbers.",
    )
    updated_at: UnixSeconds = Field(description="Time of this catalog state, Unix seconds.")

    @property
    def stars(self) -> int | None:
        """Hotel star rating from attributes when it is a whole number 1..5, else None."""
        raw = self.attributes.get("stars")
        if isinstance(raw, bool):
            return None
        if isinstance(raw, str):
            raw = int(raw) if raw.strip().isdigit() else None
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        return raw if isinstance(raw, int) and 1 <= raw <= 5 else None


class PriceUpdate(Contract):
    """A price change of one catalog item."""

    KIND = "prices"
    KEY_FIELD = "item_id"
    SCHEMA_NAME = "price_update"

    event_id: Id = Field(description=doc.EVENT_ID)
    item_id: Id = Field(description=doc.ITEM_ID + " Kafka key.")
    price: Money = Field(description="New price. " + doc.PRICE)
    currency: Currency = Field(description=doc.CURRENCY + " Applies to both prices.")
    previous_price: Money | None = Field(
        default=None, description="Price before this change, same currency; null if unknown."
    )
    ts: UnixSeconds = Field(description=doc.TS)


class Consent(Contract):
    """A user's opt-in or opt-out for one marketing channel."""

    KIND = "consent"
    KEY_FIELD = "user_id"
    SCHEMA_NAME = "consent"

    event_id: Id = Field(description=doc.EVENT_ID)
    user_id: Id = Field(description=doc.USER_ID + " Kafka key.")
    channel: Channel = Field(description=doc.CHANNEL)
    granted: bool = Field(description="True: the user opted in; false: opted out.")
    timezone: TimeZoneName | None = Field(
        default=None,
        description="User's IANA time-zone name, e.g. 'Asia/Shanghai', for quiet hours.",
    )
    ts: UnixSeconds = Field(description=doc.TS)


class Feedback(Contract):
    """A rating, review or complaint by a user, optionally about one item."""

    KIND = "feedback"
    KEY_FIELD = "user_id"
    SCHEMA_NAME = "feedback"
    model_config = ConfigDict(
        json_schema_extra=rules(
            required_when("kind", ["rating"], ["rating"]),
            required_when("kind", ["complaint"], ["category"]),
        )
    )

    event_id: Id = Field(description=doc.EVENT_ID)
    user_id: Id = Field(description=doc.USER_ID + " Kafka key.")
    item_id: Id | None = Field(default=None, description=doc.ITEM_ID + " Null if general.")
    kind: Literal["rating", "review", "complaint"] = Field(
        description="'rating' needs rating; 'complaint' needs category."
    )
    rating: float | None = Field(
        default=None, ge=1, le=5, description="Score from 1 (worst) to 5 (best)."
    )
    category: Slug | None = Field(
        default=None, description="Complaint category code, lowercase [a-z0-9_-], 1-64 chars."
    )
    ts: UnixSeconds = Field(description=doc.TS)

    def _check_rules(self) -> None:
        """Require a rating for ratings and a category for complaints."""
        if self.kind == "rating" and self.rating is None:
            raise rule_error("rating", "is required when kind is 'rating'")
        if self.kind == "complaint" and self.category is None:
            raise rule_error("category", "is required when kind is 'complaint'")


def _check_trip(start: date | None, end: date | None) -> None:
    """Reject a trip whose end date precedes its start date."""
    if start is not None and end is not None and end < start:
        raise rule_error("travel_end", "must not be before travel_start")
