"""The one push policy for every offer kind: ``decide`` (pure; time is an argument).

Checks run in a fixed order, so each suppressed offer is counted under one reason: kill
switch, consent, complaint hold, cooldown, daily cap, quiet hours. The counters (cooldown,
cap, duplicates) are only as good as the facts passed in; ``gate.PushGate`` re-checks them
atomically in Redis, which is what makes two workers unable to both send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.localtime import local_day_key, quiet_until, user_zone
from recommender.engagement.offers import Candidate
from recommender.engagement.state import CustomerState
from recommender.engagement.terms import Outcome, SuppressReason
from schemas import Channel


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the policy needs to know about the recipient."""

    consent: Mapping[str, bool]  # channel -> granted; a channel never answered is not granted
    timezone: str | None = None  # IANA name; the policy's default zone when None or unknown
    complaint_until: float = 0.0  # no marketing offers before this time
    sent_on_day: Mapping[str, int] = field(default_factory=dict)  # local day key -> sent
    last_sent: Mapping[str, float] = field(default_factory=dict)  # item key -> last send


def facts_of(state: CustomerState) -> CustomerFacts:
    """Facts from a stored customer state (counters live in Redis, see gate.PushGate)."""
    return CustomerFacts(state.granted(), state.timezone, state.complaint_until)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one candidate offer."""

    outcome: Outcome
    reason: SuppressReason | None  # set for suppress; 'quiet_hours' for hold
    offer_id: str
    channel: Channel | None  # the channel to send on (None when suppressed for consent)
    day_key: str  # the user's local YYYYMMDD the daily cap counts this offer under
    hold_until: float | None = None  # when a held offer may be decided again (Unix s, UTC)


def decide(
    offer: Candidate, facts: CustomerFacts, now: float, policy: EngagementPolicy
) -> Decision:
    """Send, hold (quiet hours, 'hold' mode) or suppress one candidate offer at ``now``."""
    tz = user_zone(facts.timezone, policy.default_timezone)
    day = local_day_key(now, tz)
    channel = next((ch for ch in policy.channels if facts.consent.get(ch, False)), None)

    def verdict(
        outcome: Outcome, reason: SuppressReason | None, until: float | None = None
    ) -> Decision:
        return Decision(outcome, reason, offer.offer_id, channel, day, until)

    if offer.kind in policy.disabled_kinds:
        return verdict("suppress", "kill_switch")
    if channel is None:
        return verdict("suppress", "no_consent")
    if offer.kind in policy.complaint_hold_kinds and now < facts.complaint_until:
        return verdict("suppress", "complaint_hold")
    last = facts.last_sent.get(offer.item_key)
    if last is not None and now < last + policy.cooldown_s(offer.kind):
        return verdict("suppress", "cooldown")
    if facts.sent_on_day.get(day, 0) >= policy.daily_cap:
        return verdict("suppress", "cap")
    until = quiet_until(now, tz, policy.quiet_start, policy.quiet_end)
    if until is not None:
        # An offer that would expire before the night is over is as good as dropped.
        if policy.quiet_mode == "drop" or until >= offer.expires_at:
            return verdict("suppress", "quiet_hours")
        return verdict("hold", "quiet_hours", until)
    return verdict("send", None)
