"""Bytes <-> contract conversion for Kafka payloads, with one-line failure reasons."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import ValidationError

from schemas._base import Contract
from schemas._reasons import describe
from schemas.events import Booking, CatalogItem, Click, Consent, Feedback, PriceUpdate
from schemas.messages import DeadLetter, Offer

C = TypeVar("C", bound=Contract)

ALL_CONTRACTS: tuple[type[Contract], ...] = (
    Click,
    Booking,
    CatalogItem,
    PriceUpdate,
    Consent,
    Feedback,
    Offer,
    DeadLetter,
)
TOPIC_MODELS: dict[str, type[Contract]] = {model.KIND: model for model in ALL_CONTRACTS}
TOPIC_KEYS: dict[str, str | None] = {model.KIND: model.KEY_FIELD for model in ALL_CONTRACTS}


class SchemaError(ValueError):
    """A payload that does not satisfy its contract; `reason` is a one-line message."""

    def __init__(self, reason: str, *, kind: str, field: str | None = None, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        # Dotted path of the offending field, None when the payload as a whole is bad.
        self.field = field
        # Low-cardinality error type (pydantic's, or 'empty'), fit for a metrics label.
        self.code = code


def decode(kind: str, raw: bytes | bytearray | None) -> Contract:
    """Decode a payload of a logical topic ('clicks', 'offers', ...) into its contract."""
    try:
        model = TOPIC_MODELS[kind]
    except KeyError:
        raise KeyError(f"unknown kind {kind!r}; known: {', '.join(TOPIC_MODELS)}") from None
    return decode_as(model, raw, kind)


def decode_as(model: type[C], raw: bytes | bytearray | None, kind: str | None = None) -> C:
    """Decode a JSON payload into model, raising SchemaError on any problem."""
    label = model.KIND if kind is None else kind
    if not raw:
        raise SchemaError(f"{label}: value is empty", kind=label, code="empty")
    try:
        # strict: the wire format is JSON Schema typed, so "12" is not a number and 1 not a bool.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        reason, field = describe(label, error)
        raise SchemaError(reason, kind=label, field=field, code=error["type"]) from exc


def encode(model: Contract) -> bytes:
    """Serialise a contract to compact JSON, omitting null fields and dates as YYYY-MM-DD."""
    try:
        return orjson.dumps(model.model_dump(exclude_none=True))
    except orjson.JSONEncodeError:
        # orjson refuses ints beyond 64 bits, which unknown fields may carry.
        return model.model_dump_json(exclude_none=True).encode()


def message_key(model: Contract) -> bytes | None:
    """Return the Kafka key for a contract (its KEY_FIELD as UTF-8), or None."""
    field = model.KEY_FIELD
    return None if field is None else str(getattr(model, field)).encode()


def decode_click(raw: bytes | None) -> Click:
    """Decode a 'clicks' payload."""
    return decode_as(Click, raw)


def decode_booking(raw: bytes | None) -> Booking:
    """Decode a 'bookings' payload."""
    return decode_as(Booking, raw)


def decode_catalog_item(raw: bytes | None) -> CatalogItem:
    """Decode a 'catalog' payload."""
    return decode_as(CatalogItem, raw)


def decode_price_update(raw: bytes | None) -> PriceUpdate:
    """Decode a 'prices' payload."""
    return decode_as(PriceUpdate, raw)


def decode_consent(raw: bytes | None) -> Consent:
    """Decode a 'consent' payload."""
    return decode_as(Consent, raw)


def decode_feedback(raw: bytes | None) -> Feedback:
    """Decode a 'feedback' payload."""
    return decode_as(Feedback, raw)


def decode_offer(raw: bytes | None) -> Offer:
    """Decode an 'offers' payload."""
    return decode_as(Offer, raw)


def decode_dead_letter(raw: bytes | None) -> DeadLetter:
    """Decode a 'deadletters' payload."""
    return decode_as(DeadLetter, raw)
