"""Closed vocabularies shared by the engagement modules."""

from __future__ import annotations

from typing import Literal

# Must equal the `kind` values of schemas.Offer (a unit test keeps them in step).
OfferKind = Literal["price_drop", "reactivation", "cross_sell", "abandoned_search"]
OFFER_KINDS: tuple[OfferKind, ...] = (
    "price_drop",
    "reactivation",
    "cross_sell",
    "abandoned_search",
)

Lifecycle = Literal["new", "active", "at_risk", "dormant", "churned", "reactivated"]
# Stages the stream sets on activity; the others follow from idle time alone.
ActivityStage = Literal["new", "active", "reactivated"]

ValueTier = Literal["high_value", "potential", "at_risk", "dormant"]
# The tier a customer holds while active; it picks their inactivity thresholds, so that going
# quiet (which lowers recency and so the value tier) never moves the thresholds themselves.
ActiveTier = Literal["high_value", "potential"]

Outcome = Literal["send", "hold", "suppress"]
SuppressReason = Literal[
    "no_consent", "cap", "quiet_hours", "cooldown", "complaint_hold", "kill_switch", "duplicate"
]
SUPPRESS_REASONS: tuple[SuppressReason, ...] = (
    "no_consent",
    "cap",
    "quiet_hours",
    "cooldown",
    "complaint_hold",
    "kill_switch",
    "duplicate",
)
