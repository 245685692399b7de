"""Versioned Kafka message contracts of the travel recommender, as pydantic v2 models."""

from schemas._base import SUPPORTED_VERSION, Contract, Record
from schemas._privacy import is_personal_key
from schemas._types import Channel, ItemType
from schemas.codec import (
    ALL_CONTRACTS,
    TOPIC_KEYS,
    TOPIC_MODELS,
    SchemaError,
    decode,
    decode_as,
    decode_booking,
    decode_catalog_item,
    decode_click,
    decode_consent,
    decode_dead_letter,
    decode_feedback,
    decode_offer,
    decode_price_update,
    encode,
    message_key,
)
from schemas.events import Booking, CatalogItem, Click, Consent, Feedback, PriceUpdate
from schemas.messages import DeadLetter, Offer, OfferItem

__all__ = [
    "ALL_CONTRACTS",
    "SUPPORTED_VERSION",
    "TOPIC_KEYS",
    "TOPIC_MODELS",
    "Booking",
    "CatalogItem",
    "Channel",
    "Click",
    "Consent",
    "Contract",
    "DeadLetter",
    "Feedback",
    "ItemType",
    "Offer",
    "OfferItem",
    "PriceUpdate",
    "Record",
    "SchemaError",
    "decode",
    "decode_as",
    "decode_booking",
    "decode_catalog_item",
    "decode_click",
    "decode_consent",
    "decode_dead_letter",
    "decode_feedback",
    "decode_offer",
    "decode_price_update",
    "encode",
    "is_personal_key",
    "message_key",
]
