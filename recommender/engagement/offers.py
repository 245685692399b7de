"""Candidate offers, their deterministic ids, and the outbound ``schemas.Offer``."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from recommender.engagement.config import HOUR_S, EngagementPolicy
from recommender.engagement.terms import OfferKind
from schemas import Channel, Offer, OfferItem

MAX_ITEMS = 20  # schemas.Offer accepts 1-20 items
Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Candidate:
    """An offer a trigger wants to make, before the push policy has decided on it."""

    user_id: str
    kind: OfferKind
    # What the per user+item cooldown and the offer id are about: an item id, or a
    # pseudo-item such as 'dest:paris' for offers about a destination.
    item_key: str
    # Start of the window the offer belongs to (e.g. the price update's time): the same
    # window gives the same offer id, so a redelivered event cannot make a second offer.
    window_start: float
    items: tuple[OfferItem, ...]
    created_at: float
    expires_at: float
    context: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def offer_id(self) -> str:
        """Deterministic id of this offer."""
        return offer_id(self.user_id, self.kind, self.item_key, self.window_start)


def offer_id(user_id: str, kind: str, item_key: str, window_start: float) -> str:
    """32 hex chars, the same for the same (user, kind, item, window) in any process."""
    # The unit separator cannot occur in ids, so distinct tuples never join to one string.
    raw = "\x1f".join(("offer/v1", user_id, kind, item_key, str(math.floor(window_start))))
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def candidate(
    user_id: str,
    kind: OfferKind,
    item_key: str,
    window_start: float,
    items: Sequence[OfferItem],
    *,
    now: float,
    policy: EngagementPolicy,
    context: Mapping[str, Scalar] | None = None,
) -> Candidate:
    """A candidate made at ``now`` that expires after the policy's offer lifetime."""
    if not items:
        raise ValueError("an offer needs at least one item")
    return Candidate(
        user_id,
        kind,
        item_key,
        window_start,
        tuple(items[:MAX_ITEMS]),
        now,
        now + policy.offer_ttl_hours * HOUR_S,
        dict(context or {}),
    )


def build_offer(c: Candidate, channel: Channel) -> Offer:
    """The message for the offers topic, once the policy chose to send it on ``channel``."""
    return Offer(
        offer_id=c.offer_id,
        user_id=c.user_id,
        kind=c.kind,
        channel=channel,
        items=list(c.items),
        created_at=c.created_at,
        expires_at=c.expires_at,
        context=dict(c.context),
    )
