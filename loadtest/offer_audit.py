"""The push service's view of the offers topic: decode every message, check the promises.

Pure: messages, policy and ground truth in, an ``Audit`` out. Time-zone math is delegated
to ``recommender.engagement.localtime`` so the audit counts days and quiet hours exactly as
the worker's policy does. Without ground truth only what the messages themselves show can
be judged (schema, key, duplicates, expiry, kill switch, cooldown); the audit says so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from loadtest.offer_truth import GroundTruth
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.localtime import in_quiet_hours, local_day_key, user_zone
from schemas import Offer, SchemaError, decode_offer

# Every invariant, in the order they are checked; each violation is counted under one.
SELF_CHECKS = ("invalid", "wrong_key", "duplicate", "expiry", "kill_switch", "cooldown")
TRUTH_CHECKS = ("no_consent", "complaint_hold", "cap", "quiet_hours")
EXAMPLES = 5  # violations of each kind kept verbatim in the summary


@dataclass(frozen=True, slots=True)
class RawOffer:
    """One record of the offers topic as consumed."""

    key: bytes | None
    value: bytes | None
    partition: int = -1
    offset: int = -1


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken promise, about one message."""

    kind: str
    offer_id: str | None
    user_id: str | None
    detail: str


@dataclass
class Audit:
    """Decoded offers (first copy of each id) and the violations found."""

    messages: int = 0
    offers: list[Offer] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    checked: tuple[str, ...] = SELF_CHECKS

    @property
    def passed(self) -> bool:
        """True when no invariant was broken."""
        return not self.violations

    def offers_by_kind(self) -> dict[str, int]:
        """Distinct offers per kind."""
        return dict(sorted(Counter(o.kind for o in self.offers).items()))

    def violations_by_kind(self) -> dict[str, int]:
        """Violations per checked invariant (0 included, so a clean run shows what it checked)."""
        found = Counter(v.kind for v in self.violations)
        return {k: found[k] for k in self.checked}

    def verdict(self) -> str:
        """One PASS/FAIL line for a human."""
        skipped = [k for k in TRUTH_CHECKS if k not in self.checked]
        scope = (
            f" (no ground truth: {', '.join(skipped)} NOT checked)"
            if skipped
            else " (all invariants checked against ground truth)"
        )
        if self.passed:
            return f"PASS: {len(self.offers)} offers, 0 violations{scope}"
        parts = ", ".join(f"{k}={n}" for k, n in self.violations_by_kind().items() if n)
        return (
            f"FAIL: {len(self.violations)} violations ({parts}) in {self.messages} messages{scope}"
        )

    def summary(self) -> dict[str, Any]:
        """Counts and a few examples of each violation, JSON-ready."""
        examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for v in self.violations:
            if len(examples[v.kind]) < EXAMPLES:
                examples[v.kind].append(
                    {"offer_id": v.offer_id, "user_id": v.user_id, "detail": v.detail}
                )
        return {
            "messages": self.messages,
            "offers": len(self.offers),
            "offers_by_kind": self.offers_by_kind(),
            "violations": len(self.violations),
            "violations_by_kind": self.violations_by_kind(),
            "not_checked": [k for k in TRUTH_CHECKS if k not in self.checked],
            "examples": dict(examples),
            "result": "PASS" if self.passed else "FAIL",
        }


def item_key(offer: Offer) -> str | None:
    """What the per user+item cooldown is about, as recommender/engagement/triggers.py keys it."""
    if offer.kind == "price_drop":
        return offer.items[0].item_id
    if offer.kind == "reactivation":
        return "reactivation"
    dest = offer.context.get("destination")
    return f"dest:{dest}" if isinstance(dest, str) else None


def audit(
    messages: Iterable[RawOffer], policy: EngagementPolicy, truth: GroundTruth | None = None
) -> Audit:
    """Decode and check every message; ground truth enables the per-user invariants."""
    out = Audit(checked=SELF_CHECKS + (TRUTH_CHECKS if truth is not None else ()))
    seen: set[str] = set()
    for m in messages:
        out.messages += 1
        offer = _decode(m, out.violations)
        if offer is None:
            continue
        if m.key != offer.user_id.encode():
            _flag(out, "wrong_key", offer, f"key {m.key!r} is not the user id")
        if offer.offer_id in seen:
            _flag(out, "duplicate", offer, f"offer_id repeated at p{m.partition}@{m.offset}")
            continue  # the push service drops the copy: it must not count twice below
        seen.add(offer.offer_id)
        out.offers.append(offer)
        if offer.kind in policy.disabled_kinds:
            _flag(out, "kill_switch", offer, f"kind {offer.kind} is switched off")
    _check_cooldown(out, policy)
    if truth is not None:
        _check_truth(out, policy, truth)
    return out


def _decode(m: RawOffer, violations: list[Violation]) -> Offer | None:
    try:
        return decode_offer(m.value)
    except SchemaError as exc:
        doc = _json(m.value)
        oid, uid = doc.get("offer_id"), doc.get("user_id")
        created, expires = doc.get("created_at"), doc.get("expires_at")
        # The schema rejects an expiry not after creation; name that promise, not 'invalid'.
        kind = "invalid"
        if isinstance(created, int | float) and isinstance(expires, int | float):
            kind = "expiry" if expires <= created else kind
        violations.append(
            Violation(
                kind,
                oid if isinstance(oid, str) else None,
                uid if isinstance(uid, str) else None,
                exc.reason,
            )
        )
        return None


def _json(raw: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _flag(out: Audit, kind: str, offer: Offer, detail: str) -> None:
    out.violations.append(Violation(kind, offer.offer_id, offer.user_id, detail))


def _check_cooldown(out: Audit, policy: EngagementPolicy) -> None:
    by_key: dict[tuple[str, str], list[Offer]] = defaultdict(list)
    for o in out.offers:
        key = item_key(o)
        if key is not None:
            by_key[(o.user_id, key)].append(o)
    for (_, key), offers in by_key.items():
        offers.sort(key=lambda o: (o.created_at, o.offer_id))
        for prev, nxt in pairwise(offers):
            # The gate sets the cooldown when it sends, for the sent offer's kind.
            gap = nxt.created_at - prev.created_at
            if gap < policy.cooldown_s(prev.kind):
                detail = f"{gap / 3600:.1f} h after offer {prev.offer_id} about {key}"
                _flag(out, "cooldown", nxt, detail)


def _check_truth(out: Audit, policy: EngagementPolicy, truth: GroundTruth) -> None:
    per_day: dict[tuple[str, str], list[Offer]] = defaultdict(list)
    start, end = policy.quiet_start, policy.quiet_end
    for o in out.offers:
        at = o.created_at
        zone = user_zone(truth.timezone(o.user_id, at), policy.default_timezone)
        if not truth.consented(o.user_id, o.channel, at):
            _flag(out, "no_consent", o, f"no consent on {o.channel} at {at:.0f}")
        if o.kind in policy.complaint_hold_kinds:
            until = truth.complaint_until(o.user_id, at, policy)
            if at < until:
                _flag(out, "complaint_hold", o, f"complaint hold until {until:.0f}")
        if in_quiet_hours(at, zone, start, end):
            _flag(out, "quiet_hours", o, f"created {_wall(at, zone)} local ({zone.key})")
        per_day[(o.user_id, local_day_key(at, zone))].append(o)
    for (_, day), offers in per_day.items():
        if len(offers) > policy.daily_cap:
            offers.sort(key=lambda o: (o.created_at, o.offer_id))
            for o in offers[policy.daily_cap :]:
                _flag(out, "cap", o, f"{len(offers)} offers on local day {day}")


def _wall(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M")
