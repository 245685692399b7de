"""Item features shared by profiles and the index: price bands and content vectors."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

BANDS = ("budget", "mid", "upscale", "luxury")

# Upper bounds (base currency) of budget / mid / upscale per item type; above is luxury.
# Per night for hotels, per day for cars, per ticket otherwise.
BAND_LIMITS: Mapping[str, tuple[float, float, float]] = {
    "hotel": (300.0, 700.0, 1500.0),
    "flight": (800.0, 2000.0, 5000.0),
    "tour": (300.0, 1000.0, 3000.0),
    "car": (200.0, 400.0, 800.0),
    "attraction": (100.0, 300.0, 800.0),
}

# How much each feature pulls a content vector. Destination dominates because a trip is to
# one place: a 2-star hotel in the same city must sit nearer than a 2-star hotel elsewhere
# (with equal weights, type + band + stars outvoted the destination).
_FEATURE_WEIGHTS = {"type": 1.0, "dest": 2.0, "band": 0.7, "stars": 0.5, "attr": 0.3}
_CONTENT_ATTRS = ("cabin", "car_class", "origin")


def price_band(item_type: str, price_base: float | None) -> str | None:
    """Budget/mid/upscale/luxury for a price in base currency, or None when unknown."""
    if price_base is None:
        return None
    limits = BAND_LIMITS.get(item_type)
    if limits is None:
        return None
    return BANDS[bisect.bisect_right(limits, price_base)]


def to_base(amount: float | None, currency: str | None, rates: Mapping[str, float]) -> float | None:
    """Convert to base currency; None when the amount or the currency's rate is unknown."""
    if amount is None or currency is None:
        return None
    rate = rates.get(currency)
    return None if rate is None else amount * rate


@lru_cache(maxsize=65536)
def _feature_vector(feature: str, dim: int) -> Vector:
    # A stable hash (not Python's salted hash()) so every process and replica agrees.
    seed = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    v /= np.linalg.norm(v)
    v.setflags(write=False)
    return v


def content_vector(
    item_type: str | None,
    destination: str | None,
    band: str | None,
    stars: int | None,
    attributes: Mapping[str, object] | None,
    dim: int,
) -> Vector:
    """A unit vector from an item's content, so items without a learned vector still rank."""
    acc = np.zeros(dim, dtype=np.float32)
    parts: list[tuple[str, str]] = []
    if item_type:
        parts.append(("type", item_type))
    if destination:
        parts.append(("dest", destination))
    if band and item_type:
        parts.append(("band", f"{item_type}:{band}"))
    if stars:
        parts.append(("stars", str(stars)))
    for name in _CONTENT_ATTRS:
        value = (attributes or {}).get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            parts.append(("attr", f"{name}={value}"))
    for kind, value in parts:
        acc += _FEATURE_WEIGHTS[kind] * _feature_vector(f"{kind}={value}", dim)
    norm = float(np.linalg.norm(acc))
    if norm == 0.0:
        return _feature_vector("unknown", dim).copy()
    acc /= norm
    return acc


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """What profile updates need to know about an item."""

    item_id: str
    item_type: str
    destination: str
    band: str | None
    stars: int | None
    vector: Vector
    known: bool  # False: not in the catalog yet; facts came from the event itself
