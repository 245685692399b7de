"""Expected offers (offer_expect.py) against the offers received, by offer id.

An offer id is deterministic in (user, kind, item, window), so comparing ids compares who
got an offer about what, for which trigger. Cap and cooldown are judged here, against the
offers actually received, because some of a user's offers come from sweeps whose timing is
the worker's (see offer_expect.py for the whole definition of eligibility). ``judge`` runs
the replay and the reconciliation; ``order_dependent`` sets apart the violations a race
between consumers within one barrier tick can explain.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from loadtest.offer_audit import Audit, Violation, item_key
from loadtest.offer_expect import CHECKED_KINDS, Expected, Replay
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.localtime import local_day_key, quiet_until, user_zone
from recommender.engagement.terms import OfferKind
from schemas import Offer

BUCKETS = ("matched", "missing", "extra", "suppressed", "unsure", "unsure_received")
EXAMPLES = 5  # per cause
Sent = tuple[float, OfferKind, str]  # decision time, kind, offer id


def decision_time(o: Offer, policy: EngagementPolicy, zone: str | None) -> float:
    """When the gate counted a received offer: its creation (a held offer is made again when a
    sweep releases it, so it carries the release time), or the end of the quiet hours it was
    created in (an offer made inside them is a quiet-hour violation the audit reports)."""
    tz = user_zone(zone, policy.default_timezone)
    until = quiet_until(o.created_at, tz, policy.quiet_start, policy.quiet_end)
    return o.created_at if until is None else until


def reconcile(
    expected: Mapping[str, Expected],
    offers: Sequence[Offer],
    policy: EngagementPolicy,
    zone_of: Callable[[str], str | None],
    *,
    slack_s: float,
) -> dict[str, Any]:
    """Matched, missing and extra offers of the checked kinds, and what was not judged.

    ``slack_s``: how much later than its time an offer may be decided (the simulation's
    barrier tick: a hold is released, a sweep runs, another pipeline catches up), during
    which an offer about the same item from a later moment may take the cooldown first.

    The cooldown of a received offer is judged at the time the gate actually decided it (its
    ``decision_time``), because that is what the gate promises: two offers about one user and
    item are at least a cooldown of decision time apart. For a held offer that is when a sweep
    released it, which is after the hold ended by the sweep's lag (on the event clock, up to a
    barrier tick); judged at the hold's end instead, a release a cooldown after the previous
    offer looked like a breach although the push service got the two a cooldown apart. An
    offer not received has no such time: a held one is judged at its hold's end, and not judged
    when the cooldown that explains it ended within ``slack_s`` after that.
    """
    got = {o.offer_id for o in offers}
    per_day: Counter[tuple[str, str]] = Counter()
    by_key: dict[tuple[str, str], list[Sent]] = defaultdict(list)
    decided_at: dict[str, float] = {}
    for o in offers:
        t = decision_time(o, policy, zone_of(o.user_id))
        decided_at[o.offer_id] = t
        per_day[(o.user_id, _day(t, o.user_id, policy, zone_of))] += 1
        key = item_key(o)
        if key is not None:
            by_key[(o.user_id, key)].append((t, o.kind, o.offer_id))
    tally: dict[str, Counter[str]] = {b: Counter() for b in BUCKETS}
    per_kind: dict[str, Counter[str]] = {b: Counter() for b in BUCKETS}
    # bucket -> cause -> a few cases, so a rare cause is not hidden behind a common one
    examples: dict[str, dict[str, list[dict[str, Any]]]] = {"missing": {}, "extra": {}}

    def note(bucket: str, e: Expected, why: str) -> None:
        tally[bucket][why] += 1
        per_kind[bucket][e.kind] += 1
        cases = examples[bucket].setdefault(why, []) if bucket in examples else None
        if cases is not None and len(cases) < EXAMPLES:
            cases.append(
                {"user_id": e.user_id, "kind": e.kind, "item": e.item_key, "at": e.at}
                | {"offer_id": e.offer_id, "why": why}
            )

    lags: list[float] = []  # how long after their hold ended received held offers were decided
    for e in expected.values():
        received = e.offer_id in got
        if e.outcome == "unsure":
            note("unsure_received" if received else "unsure", e, str(e.reason))
            continue
        if e.outcome == "suppress":
            why = f"expected_{e.reason}" if received else str(e.reason)
            note("extra" if received else "suppressed", e, why)
            continue
        held = e.outcome == "hold" and e.until is not None
        if received:
            t = decided_at[e.offer_id]
            if held and e.until is not None:
                lags.append(t - e.until)
        else:
            t = e.until if held and e.until is not None else e.at
        others = [x for x in by_key.get((e.user_id, e.item_key), []) if x[2] != e.offer_id]
        last = max((x for x in others if x[0] <= t), default=None)
        cools_until = None if last is None else last[0] + policy.cooldown_s(last[1])
        if cools_until is not None and t < cools_until:
            if received:
                note("extra", e, "expected_cooldown")
            elif held and cools_until <= t + slack_s:
                # Released before the cooldown ended it was suppressed, after it it was sent.
                note("unsure", e, "cooldown_ends_in_its_release_tick")
            else:
                note("suppressed", e, "cooldown")
        elif received:
            note("matched", e, e.kind)
        elif any(t < x[0] <= t + slack_s for x in others):
            note("unsure", e, "a_later_offer_in_its_tick_went_first")
        elif per_day[(e.user_id, _day(t, e.user_id, policy, zone_of))] >= policy.daily_cap:
            note("unsure", e, "cap_reached_by_others")
        elif last is not None:
            note("missing", e, "cooldown_past_in_event_time")
        else:
            note("missing", e, "no_offer")
    for o in offers:
        if o.kind in CHECKED_KINDS and o.offer_id not in expected:
            e = Expected(o.offer_id, o.user_id, o.kind, str(item_key(o)), o.created_at, "")
            note("extra", e, "not_a_candidate")
    return {
        "kinds": list(CHECKED_KINDS),
        "matched": sum(tally["matched"].values()),
        "missing": sum(tally["missing"].values()),
        "extra": sum(tally["extra"].values()),
        "matched_by_kind": dict(per_kind["matched"]),
        "missing_by_kind": dict(per_kind["missing"]),
        "extra_by_kind": dict(per_kind["extra"]),
        "missing_by_cause": dict(tally["missing"]),
        "extra_by_cause": dict(tally["extra"]),
        "suppressed_as_expected": dict(tally["suppressed"]),
        "not_judged": dict(tally["unsure"]),
        "not_judged_but_received": dict(tally["unsure_received"]),
        "examples": examples,
        "held_released": {
            "offers": len(lags),
            "max_lag_s": round(max(lags, default=0.0), 3),
            "later_than_slack": sum(lag > slack_s for lag in lags),
        },
    }


def _day(
    t: float, user: str, policy: EngagementPolicy, zone_of: Callable[[str], str | None]
) -> str:
    return local_day_key(t, user_zone(zone_of(user), policy.default_timezone))


def judge(
    replay: Replay,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    result: Audit,
    zone_of: Callable[[str], str | None],
    slack_s: float,
) -> dict[str, Any]:
    """Replay the ground-truth events (each once, time-ordered) and reconcile the expected
    offers with the audited ones."""
    replay.index(events)
    for topic, payload in events:
        replay.apply(topic, payload)
    replay.finish(float(events[-1][1]["ts"]) if events else 0.0)
    return reconcile(replay.expected, result.offers, replay.policy, zone_of, slack_s=slack_s)


def order_dependent(
    result: Audit, events: Iterable[tuple[str, Mapping[str, Any]]], tick_of: Callable[[float], int]
) -> list[Violation]:
    """Consent and complaint-hold violations of users who changed consent or complained in
    the tick of the offer. The worker's consumers may apply either first (as live ones may,
    within their lag; compressed time stretches that window to a whole tick), so these are
    reported apart and not judged, like the same-tick candidates of the eligibility check."""
    busy = {
        (str(p["user_id"]), tick_of(float(p["ts"])))
        for topic, p in events
        if topic == "consent" or (topic == "feedback" and p["kind"] == "complaint")
    }
    created = {o.offer_id: o.created_at for o in result.offers}
    return [
        v
        for v in result.violations
        if v.kind in ("no_consent", "complaint_hold")
        and v.offer_id in created
        and (v.user_id, tick_of(created[v.offer_id])) in busy
    ]
