"""User events -> customer states, event-triggered offers and indexes (consumer group engage).

One batch of clicks, bookings, consent and feedback, in this order of effects:
1. decode (bad consent and feedback records become dead letters; bad clicks and bookings are
   dead-lettered by ingest, which reads them too);
2. read watermarks and the batch's customer states in one round trip; records at or below
   their partition's watermark were applied before and are skipped;
3. apply the pure engagement functions per user in event-time order (``plan_batch``); a
   new confirmed flight booking makes a cross-sell candidate decided *at the booking's time*,
   so a replay decides as live did;
4. decide the candidates with the PushGate, produce the offers and the dead letters and
   wait for their acks;
5. commit states, facts, watcher index, due sets, held offers and watermarks in one script
   that checks nobody changed the states or watermarks meanwhile (else reload and redo;
   decisions already taken are reused, never asked twice).
Offers are at most once: see streams/engage_offers.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from recommender.engagement.loyalty import apply_booking
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import CustomerFacts, Decision
from recommender.engagement.signals import apply_click, apply_consent, apply_feedback
from recommender.engagement.state import CustomerState
from recommender.engagement.store import EngageStore, Op, StateSnapshot, facts_as_of
from recommender.engagement.triggers import cross_sell_offer
from recommender.errors import ConflictError, StoreError
from recommender.features import to_base
from recommender.popularity import day_of
from recommender.settings import Settings
from schemas import Booking, Click, Consent, Feedback, OfferItem
from streams import metrics
from streams.engage_common import (
    Decoded,
    EventClock,
    Rejected,
    Where,
    decode_records,
    letter,
    new_watermarks,
    to_letter,
    with_retry,
)
from streams.engage_index import index_ops
from streams.engage_items import ItemPicker
from streams.engage_offers import Decider, OfferSink, hold_ops
from streams.pipeline import DeadLetterSink, RawRecord

log = logging.getLogger(__name__)

ENGAGE_TOPICS = ("clicks", "bookings", "consent", "feedback")
_MAX_CONFLICTS = 20
_LOOKUPS = 8  # concurrent cross-sell item lookups per batch (a Redis pool holds 100)
Pending = tuple[Candidate, CustomerFacts, float]  # a candidate, its recipient, decision time


@dataclass(slots=True)
class Plan:
    """The pure outcome of a batch: changed states and the offers to decide."""

    states: dict[str, CustomerState] = field(default_factory=dict)
    offers: list[Pending] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    newest: float = 0.0


def _event_order(d: Decoded) -> tuple[float, str, int, int]:
    ts = d.event.ts  # type: ignore[attr-defined]  # every user event has ts
    return (float(ts), d.rec.topic, d.rec.partition, d.rec.offset)


def wants_cross_sell(ev: Booking) -> bool:
    """A confirmed flight: what cross-sells hotels, cars and tours."""
    return ev.status == "confirmed" and ev.item_type == "flight"


def plan_batch(
    states: Mapping[str, CustomerState],
    events: Sequence[Decoded],
    cross_items: Mapping[str, Sequence[OfferItem]],
    settings: Settings,
) -> Plan:
    """Apply events per user in event-time order; cross-sell candidates at booking time.

    ``cross_items`` maps a booking's event_id to the ranked items it may cross-sell.
    """
    policy = settings.engagement
    plan = Plan()
    cur = dict(states)
    for d in sorted(events, key=_event_order):
        ev = d.event
        assert isinstance(ev, Click | Booking | Consent | Feedback)
        s = cur.get(ev.user_id, CustomerState())
        if isinstance(ev, Click):
            s = apply_click(
                s,
                action=ev.action,
                ts=ev.ts,
                item_id=ev.item_id,
                destination=ev.destination,
                price=ev.price,
                policy=policy,
            )
        elif isinstance(ev, Booking):
            fresh = ev.booking_id not in s.ledger
            amount = to_base(ev.amount, ev.currency, settings.fx_rates)
            s = apply_booking(
                s,
                booking_id=ev.booking_id,
                status=ev.status,
                ts=ev.ts,
                amount=ev.amount if amount is None else amount,
                item_id=ev.item_id,
                item_type=ev.item_type,
                destination=ev.destination,
                policy=policy,
            )
            if fresh and wants_cross_sell(ev):
                items = cross_items.get(ev.event_id, ())
                c = cross_sell_offer(ev, items, now=ev.ts, policy=policy)
                if c is not None:
                    plan.offers.append((c, facts_as_of(s, ev.ts), ev.ts))
        elif isinstance(ev, Consent):
            s = apply_consent(
                s, channel=ev.channel, granted=ev.granted, ts=ev.ts, timezone=ev.timezone
            )
        else:
            s = apply_feedback(
                s, kind=ev.kind, ts=ev.ts, item_id=ev.item_id, rating=ev.rating, policy=policy
            )
        cur[ev.user_id] = s
        plan.applied[d.logical] = plan.applied.get(d.logical, 0) + 1
        plan.newest = max(plan.newest, ev.ts)
    plan.states = {u: s for u, s in cur.items() if states.get(u) != s}
    return plan


class Engage:
    """Applies batches of user events to customer states and sends what they trigger."""

    def __init__(
        self,
        settings: Settings,
        store: EngageStore,
        decider: Decider,
        offers: OfferSink,
        items: ItemPicker,
        dead_letters: DeadLetterSink,
        *,
        consumer_name: str,
        clock: EventClock,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self.store = store
        self.decider = decider
        self.offers = offers
        self.items = items
        self.dead_letters = dead_letters
        self.consumer_name = consumer_name
        self.clock = clock
        self.wall = wall
        self.logical = {settings.topic(t): t for t in ENGAGE_TOPICS}

    async def apply(self, records: Sequence[RawRecord]) -> Plan:
        """Apply one batch; returns once offers and dead letters are acked and Redis holds it."""
        good, bad = decode_records(records, self.logical)
        users = sorted({d.event.user_id for d in good})  # type: ignore[attr-defined]
        tps = {(r.topic, r.partition) for r in records}
        decided: dict[str, Decision] = {}
        produced: set[str] = set()
        lettered: set[Where] = set()
        for attempt in range(_MAX_CONFLICTS):
            snap = await with_retry(
                functools.partial(self.store.load_states, tps, users),
                "engage_load",
                self.s.redis_retry_s,
            )
            fresh = [
                d
                for d in good
                if d.rec.offset > snap.watermarks.get((d.rec.topic, d.rec.partition), -1)
            ]
            cross = await with_retry(
                functools.partial(self._cross_items, fresh),
                "engage_items",
                self.s.redis_retry_s,
                timed=False,
            )
            plan = plan_batch(snap.states, fresh, cross, self.s)
            # One decision per offer id: the same offer twice in a batch (two flights to one
            # trip) is one offer, and a retry after a conflict reuses what the gate said.
            todo = list(
                {p[0].offer_id: p for p in plan.offers if p[0].offer_id not in decided}.values()
            )
            # A gate call whose reply a Redis pause swallowed is retried: the offers it had
            # reserved then come back "duplicate" and are not sent (offers are at most once),
            # as they would after a crash; the worker itself keeps running.
            decisions = await with_retry(
                functools.partial(self.decider.decide, todo),
                "engage_gate",
                self.s.redis_retry_s,
                timed=False,
            )
            for (c, _, _), d in zip(todo, decisions, strict=True):
                decided[c.offer_id] = d
            chosen = list(
                {c.offer_id: (c, decided[c.offer_id]) for c, _, _ in plan.offers}.values()
            )
            sends = [
                (c, d) for c, d in chosen if d.outcome == "send" and c.offer_id not in produced
            ]
            rejected = to_letter(bad, snap.watermarks, lettered)
            await asyncio.gather(
                self.offers.send(sends),
                self.dead_letters([letter(r, self.consumer_name, self.wall()) for r in rejected])
                if rejected
                else asyncio.sleep(0),
            )
            produced.update(c.offer_id for c, _ in sends)
            lettered.update(r.where for r in rejected)
            ops = self._ops(snap, plan, chosen, bad, lettered)
            try:
                await with_retry(
                    functools.partial(
                        self.store.commit,
                        snap,
                        plan.states,
                        new_watermarks(records, snap.watermarks),
                        ops,
                    ),
                    "engage_commit",
                    self.s.redis_retry_s,
                )
            except ConflictError as exc:
                log.info("engage batch conflicted (%s); reloading", exc)
                await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))
                continue
            self.clock.advance(plan.newest)
            for r in dead_here(snap, bad, lettered):
                metrics.EVENTS_DEAD.labels(r.logical, r.code).inc()
            return plan
        raise StoreError(f"engage batch kept conflicting after {_MAX_CONFLICTS} attempts")

    async def _cross_items(self, fresh: Sequence[Decoded]) -> dict[str, list[OfferItem]]:
        """Popular hotels, cars and tours at each new confirmed flight's destination.

        One lookup per destination and day, at most _LOOKUPS at a time: a batch of a backlog
        holds hundreds of flights, and a lookup each, all at once, asked the Redis pool for
        more connections than it has (redis-py raises MaxConnectionsError past 100, which
        stopped the worker in a soak).
        """
        bookings = [
            d.event for d in fresh if isinstance(d.event, Booking) and wants_cross_sell(d.event)
        ]
        types = self.s.engagement.cross_sell_item_types
        per_type = -(-self.s.engage_offer_items // len(types))
        # popular() depends on the time only through its day: one lookup serves the day.
        markets = {(b.destination, day_of(b.ts)): b.ts for b in bookings}
        room = asyncio.Semaphore(_LOOKUPS)

        async def pick(destination: str, ts: float) -> list[OfferItem]:
            async with room:
                found = await self.items.popular(
                    destination, now=ts, n=per_type * len(types) * 4, types=types
                )
            counts: dict[str, int] = {}
            out = []
            for i in found:  # at most per_type of each type, so the interleave stays short
                if counts.get(i.item_type, 0) < per_type:
                    counts[i.item_type] = counts.get(i.item_type, 0) + 1
                    out.append(i)
            return out

        picked = await asyncio.gather(*(pick(dest, ts) for (dest, _), ts in markets.items()))
        by_market = dict(zip(markets, picked, strict=True))
        return {b.event_id: by_market[(b.destination, day_of(b.ts))] for b in bookings}

    def _ops(
        self,
        snap: StateSnapshot,
        plan: Plan,
        chosen: Sequence[tuple[Candidate, Decision]],
        bad: Sequence[Rejected],
        lettered: set[Where],
    ) -> list[Op]:
        keys, policy = self.store.keys, self.s.engagement
        ops: list[Op] = []
        for u, s in plan.states.items():
            ops += index_ops(keys, policy, u, snap.states.get(u), s)
        ops += hold_ops(keys, [(c, d) for c, d in chosen if d.outcome == "hold"])
        stats = keys.engage_stats()
        for name, n in plan.applied.items():
            ops.append(("HINCRBY", stats, f"applied:{name}", n))
        for r in dead_here(snap, bad, lettered):
            ops.append(("HINCRBY", stats, f"dead:{r.logical}", 1))
        return ops


def dead_here(snap: StateSnapshot, bad: Sequence[Rejected], lettered: set[Where]) -> list[Rejected]:
    """Rejected records this batch dead-lettered and counts (not those of an earlier try)."""
    return [
        r
        for r in bad
        if r.where in lettered and r.rec.offset > snap.watermarks.get(r.where[:2], -1)
    ]
