"""What engagement knows about a customer that ranking uses (pure).

Feedback lowers an item in that user's ranking (a complaint about a hotel should not be
answered by showing it again), and high-value customers see upscale and luxury items
first. Both come from the customer state the engagement worker keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.segments import rfm, value_tier
from recommender.engagement.signals import ranking_penalties
from recommender.engagement.state import CustomerState
from recommender.features import price_band

PREMIUM_BANDS = frozenset({"upscale", "luxury"})


@dataclass(frozen=True, slots=True)
class CustomerHints:
    """Per-customer adjustments to ranking scores."""

    penalties: Mapping[str, float] = field(default_factory=dict)  # item -> penalty in (0, 1]
    premium: bool = False  # high-value customer: upscale and luxury items get a boost

    @property
    def active(self) -> bool:
        """False when adjust() leaves every score as it is (ranking then skips the call)."""
        return self.premium or bool(self.penalties)

    def adjust(
        self,
        item_id: str,
        item_type: str,
        band: str | None,
        price_base: float | None,
        score: float,
        premium_weight: float,
    ) -> float:
        """The score after the premium boost and the feedback penalty."""
        if self.premium:
            b = band or price_band(item_type, price_base)
            if b in PREMIUM_BANDS:
                score += premium_weight
        penalty = self.penalties.get(item_id)
        return score * (1.0 - penalty) if penalty else score


NO_HINTS = CustomerHints()


def hints_of(state: CustomerState | None, now: float, policy: EngagementPolicy) -> CustomerHints:
    """Hints from a customer state at ``now`` (none for customers engagement has not seen)."""
    if state is None:
        return NO_HINTS
    premium = value_tier(rfm(state, now, policy), policy) == "high_value"
    return CustomerHints(ranking_penalties(state, now, policy), premium)
