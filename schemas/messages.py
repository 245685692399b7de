"""Outbound message contracts: offers for the push service and dead letters."""

from __future__ import annotations

import base64
import time
from typing import Literal, Self

from pydantic import ConfigDict, Field

from schemas import _docs as doc
from schemas._base import Contract, Record, rule_error
from schemas._jsonrules import required_with, rules
from schemas._types import Channel, Currency, Id, ItemType, Money, ScalarMap, Slug, UnixSeconds

# Standard base64 alphabet with padding, as produced by base64.b64encode.
_B64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
# Dead letters must never fail their own validation because an exception text was long.
_MAX_REASON = 2000
_MAX_ERROR_TYPE = 200


class OfferItem(Record):
    """One recommended product inside an offer."""

    model_config = ConfigDict(json_schema_extra=rules(required_with("price", ["currency"])))

    item_id: Id = Field(description=doc.ITEM_ID)
    item_type: ItemType = Field(description=doc.ITEM_TYPE)
    destination: Slug | None = Field(default=None, description=doc.DESTINATION)
    score: float = Field(description="Ranking score, higher is better; only the order matters.")
    reason: str = Field(
        max_length=200, description="Short human-readable reason shown to the user, <= 200 chars."
    )
    price: Money | None = Field(default=None, description="Price to show. " + doc.PRICE)
    currency: Currency | None = Field(
        default=None, description=doc.CURRENCY + " Required when price is set."
    )

    def _check_rules(self) -> None:
        """Require a currency for any price."""
        if self.price is not None and self.currency is None:
            raise rule_error("currency", "is required when price is set")


class Offer(Contract):
    """A personalised offer the push service should deliver to one user."""

    KIND = "offers"
    KEY_FIELD = "user_id"
    SCHEMA_NAME = "offer"
    SCALAR_MAPS = ("context",)

    offer_id: Id = Field(description=f"Unique offer id ({doc.ID_RULE}); use it to de-duplicate.")
    user_id: Id = Field(description=doc.USER_ID + " Kafka key.")
    kind: Literal["price_drop", "reactivation", "cross_sell", "abandoned_search"] = Field(
        description="Why the offer was made; selects the message template."
    )
    channel: Channel = Field(description=doc.CHANNEL + " The user has consented to it.")
    items: list[OfferItem] = Field(
        min_length=1, max_length=20, description="Recommended items, best first, 1-20 entries."
    )
    created_at: UnixSeconds = Field(description="Time the offer was made, Unix seconds (UTC).")
    expires_at: UnixSeconds = Field(
        description="Do not deliver after this time, Unix seconds (UTC); after created_at."
    )
    context: ScalarMap = Field(
        default_factory=dict,
        description="Template variables, e.g. destination or old_price. " + doc.SCALARS,
    )

    def _check_rules(self) -> None:
        """Require an expiry after creation."""
        if self.expires_at <= self.created_at:
            raise rule_error("expires_at", "must be after created_at")


class DeadLetter(Contract):
    """A record a consumer could not process, kept with its original bytes."""

    KIND = "deadletters"
    KEY_FIELD = None
    SCHEMA_NAME = "dead_letter"

    reason: str = Field(
        max_length=_MAX_REASON, description="One-line human-readable cause, <= 2000 chars."
    )
    error_type: str = Field(
        max_length=_MAX_ERROR_TYPE,
        description="Machine-readable error class, e.g. 'SchemaError' or 'missing'.",
    )
    source_topic: str = Field(pattern=_TOPIC_PATTERN, description="Topic the record came from.")
    partition: int = Field(ge=-1, description="Partition of the record; -1 if unknown.")
    offset: int = Field(ge=-1, description="Offset of the record in its partition; -1 if unknown.")
    key_b64: str | None = Field(
        default=None,
        pattern=_B64_PATTERN,
        description="Original record key, standard base64 (RFC 4648); null for a null key.",
    )
    value_b64: str = Field(
        pattern=_B64_PATTERN,
        description="Original record value, standard base64 (RFC 4648); '' for a null value.",
    )
    consumer: str = Field(
        min_length=1, max_length=256, description="Consumer group or service that gave up."
    )
    ts: UnixSeconds = Field(description="Time the record was dead-lettered, Unix seconds (UTC).")

    @classmethod
    def of(
        cls,
        reason: str,
        error_type: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        consumer: str,
        ts: float | None = None,
    ) -> Self:
        """Build a dead letter from a raw record; ts defaults to now."""
        return cls(
            reason=_one_line(reason, _MAX_REASON),
            error_type=_one_line(error_type, _MAX_ERROR_TYPE),
            source_topic=topic,
            partition=partition,
            offset=offset,
            key_b64=None if key is None else base64.b64encode(key).decode("ascii"),
            value_b64=base64.b64encode(value or b"").decode("ascii"),
            consumer=consumer,
            ts=time.time() if ts is None else ts,
        )

    def original_key(self) -> bytes | None:
        """Return the original record key bytes, or None for a null key."""
        return None if self.key_b64 is None else _b64decode(self.key_b64)

    def original_value(self) -> bytes:
        """Return the original record value bytes (b'' for a null value)."""
        return _b64decode(self.value_b64)


def _one_line(text: str, limit: int) -> str:
    """Collapse text to one line of at most limit chars."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _b64decode(text: str) -> bytes:
    """Decode standard base64 strictly (binascii.Error is a ValueError)."""
    return base64.b64decode(text, validate=True)
