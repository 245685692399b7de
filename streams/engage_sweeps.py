"""Time-based triggers: reactivation, abandoned-search reminders and held offers.

Every ``engage_sweep_s`` a worker tries each sweep kind; a short Redis lock per kind lets
one worker at a time run it. Sweeps read only what is due: the due sets (user -> time to
look at them next) that every engagement commit keeps in line with the states, and the
held-offers set (offer -> end of its hold). After a user is handled their entry moves to
when they can next be due, or leaves the set, so a sweep costs O(due users), not O(users).

Decisions are taken at the sweep clock's time (``engage_clock``: wall time, or the newest
event time applied, so replays and simulations decide as live would). Offers are at most
once, as for events (streams/engage_offers.py).

Users swept are often still receiving events (someone who searched is usually still
browsing), so a state the sweep read may change before its commit. That is contention, not
broken infrastructure, and never stops the worker: each user's outcome is committed on its
own, checked against the state read (one busy user cannot fail the others' commits); a
changed user is reloaded and marked again with backoff, and one that keeps changing keeps
their due entry for the next sweep (not read again in this one). Their offer is not decided
twice: the next sweep makes the same offer id (same search, same reactivation window), the
gate answers 'duplicate', which counts as handled, and the offer is recorded then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

from recommender.engagement.config import HOUR_S, EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import Decision
from recommender.engagement.segments import reactivation_due_at
from recommender.engagement.signals import apply_offer_sent
from recommender.engagement.state import CustomerState
from recommender.engagement.store import EngageStore, Op, StateSnapshot, facts_as_of
from recommender.engagement.triggers import (
    abandoned_search_offer,
    abandoned_searches,
    reactivation_due,
    reactivation_offer,
)
from recommender.profile import Profile
from recommender.settings import Settings
from schemas import OfferItem
from streams.engage_common import EventClock
from streams.engage_index import ABANDONED_SEARCH, REACTIVATION, due_op, search_due_at
from streams.engage_items import ItemPicker
from streams.engage_offers import OfferSink, candidate_from_blob, hold_ops
from streams.engagement_metrics import OFFERS_SUPPRESSED, TRIGGER_SWEEP_SECONDS
from streams.redis_retry import with_retry

log = logging.getLogger(__name__)

HELD = "held"
SWEEP_KINDS = (REACTIVATION, ABANDONED_SEARCH, HELD)
# A user with nothing to offer yet, or whose offer was dropped for quiet hours, is looked at
# again this much later.
RETRY_S = HOUR_S
# Outcomes the gate records under the offer id: asking again in the same window would only
# be answered 'duplicate', so such an offer counts as handled, like a sent one.
GATE_RECORDED = frozenset({"cap", "cooldown", "duplicate"})
# Rounds of reload-and-commit for the users whose state changed under a sweep step.
_SETTLE_ROUNDS = 8


def handled(d: Decision) -> bool:
    """True when the offer is settled: sent, held, or refused by the gate under its id."""
    return d.outcome != "suppress" or d.reason in GATE_RECORDED


def next_look(reason: str | None, now: float, complaint_until: float) -> float | None:
    """When a user whose offer the policy refused is worth another look: not before their
    state changes (no consent, kind disabled), after a complaint hold, else after RETRY_S."""
    if reason in ("no_consent", "kill_switch"):
        return None
    if reason == "complaint_hold":
        return max(complaint_until, now + 1.0)
    return now + RETRY_S


def earliest(*times: float | None) -> float | None:
    """The smallest time given, None when none is."""
    known = [t for t in times if t is not None]
    return min(known, default=None)


class Sweeps:
    """The time-based triggers of one worker."""

    def __init__(
        self,
        settings: Settings,
        store: EngageStore,
        gate: PushGate,
        offers: OfferSink,
        items: ItemPicker,
        clock: EventClock,
        *,
        owner: str | None = None,
    ) -> None:
        self.s = settings
        self.policy: EngagementPolicy = settings.engagement
        self.store = store
        self.gate = gate
        self.offers = offers
        self.items = items
        self.clock = clock
        self.token = owner or uuid.uuid4().hex
        self.read: dict[str, int] = {k: 0 for k in SWEEP_KINDS}  # due entries read, by kind
        # Commits of one user lost to a concurrent event, by kind (each was reloaded/deferred).
        self.conflicts: dict[str, int] = {k: 0 for k in SWEEP_KINDS}
        # Users left due by this sweep after repeated conflicts: skipped until it ends.
        self._deferred: dict[str, set[str]] = {k: set() for k in SWEEP_KINDS}

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every engage_sweep_s until asked to stop (a sweep in hand is finished).

        A sweep that loses Redis is run again with backoff, as the event pipelines retry a
        batch, for up to ``redis_retry_s``; then the error stops the worker. Running a sweep
        again is safe: what it committed is not due any more, and an offer the gate reserved
        already is answered 'duplicate' (same offer id), never sent twice (at most once).
        """
        while not stopping.is_set():
            await with_retry(self.run_once, "sweeps", self.s.redis_retry_s, timed=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.s.engage_sweep_s)

    async def run_once(self) -> dict[str, int]:
        """Run each sweep kind this worker can lock; returns the entries handled per kind."""
        now = self.clock.now()
        done: dict[str, int] = {}
        if now is None:
            return done
        sweeps: dict[str, Callable[[float], Awaitable[int]]] = {
            REACTIVATION: self.reactivation,
            ABANDONED_SEARCH: self.abandoned_search,
            HELD: self.held,
        }
        for kind, sweep in sweeps.items():
            if not await self.store.lock(kind, self.token, self.s.engage_sweep_lock_s):
                continue
            started = time.perf_counter()
            self._deferred[kind].clear()
            try:
                done[kind] = await self._drain(sweep, now)
            finally:
                self._deferred[kind].clear()
                await self.store.unlock(kind, self.token)
                TRIGGER_SWEEP_SECONDS.labels(kind).observe(time.perf_counter() - started)
        return done

    async def _drain(self, step: Callable[[float], Awaitable[int]], now: float) -> int:
        """Steps of one sweep until nothing is due or half the lock's lifetime is used."""
        deadline = time.monotonic() + self.s.engage_sweep_lock_s / 2
        total = 0
        while time.monotonic() < deadline:
            n = await step(now)
            total += n
            if n < self.s.engage_sweep_batch:
                break
        return total

    # --- reactivation ------------------------------------------------------------------------

    async def reactivation(self, now: float) -> int:
        """One step: due users -> reactivation offers with their next-best items."""
        users = await self._due(REACTIVATION, now)
        self.read[REACTIVATION] += len(users)
        if not users:
            return 0
        snap = await self.store.load_states((), users)
        due = reactivation_due(snap.states, now=now, policy=self.policy)
        profiles = await self.store.profiles(due)
        cands = []
        for u in due:
            items = await self._next_best(profiles.get(u), now)
            if items:
                cands.append(reactivation_offer(u, items, now=now, policy=self.policy))
        decided = await self._decide(cands, snap.states, now)
        outcome = {c.user_id: d for c, d in decided}

        def mark(u: str, s: CustomerState) -> CustomerState:
            d = outcome.get(u)
            if d is None or not handled(d):
                return s
            return apply_offer_sent(s, kind="reactivation", destination=None, ts=now)

        def look(u: str, s: CustomerState | None) -> float | None:
            if s is None:
                return None
            d = outcome.get(u)
            state_due = reactivation_due_at(s, self.policy)
            if d is None:
                if state_due is not None and state_due > now:
                    return state_due
                # Due but nothing to offer yet: look again later. Not due although the entry
                # said so: past every reactivation stage (e.g. churned) until they come back.
                return now + RETRY_S if u in due else None
            if handled(d) or (state_due is not None and state_due > now):
                return state_due
            return next_look(d.reason, now, s.complaint_until)

        await self._settle(snap, users, set(outcome), mark, REACTIVATION, look)
        return len(users)

    async def _next_best(self, profile: Profile | None, now: float) -> list[OfferItem]:
        """Popular items in the user's top destinations, filled up with global trends."""
        n = self.s.engage_offer_items
        booked = set(profile.booked_items()) if profile is not None else set()
        out: list[OfferItem] = []
        dests = [d for d, _ in profile.top("dest", 3)] if profile is not None else []
        for dest in dests:
            seen = booked | {i.item_id for i in out}
            out += await self.items.popular(dest, now=now, n=max(1, n // len(dests)), exclude=seen)
        if len(out) < n:
            seen = booked | {i.item_id for i in out}
            out += await self.items.popular(
                "_all", now=now, n=n - len(out), exclude=seen, trending=True
            )
        return out[:n]

    # --- abandoned searches ------------------------------------------------------------------

    async def abandoned_search(self, now: float) -> int:
        """One step: due users -> a reminder per abandoned destination."""
        users = await self._due(ABANDONED_SEARCH, now)
        self.read[ABANDONED_SEARCH] += len(users)
        if not users:
            return 0
        snap = await self.store.load_states((), users)
        cands: list[Candidate] = []
        empty: set[str] = set()  # users with a search but nothing popular to show yet
        for u in users:
            s = snap.states.get(u)
            if s is None:
                continue
            for dest in abandoned_searches(s, now=now, policy=self.policy):
                items = await self.items.popular(dest, now=now, n=self.s.engage_offer_items)
                if not items:
                    empty.add(u)
                    continue
                cands.append(
                    abandoned_search_offer(
                        u, dest, s.searches[dest].ts, items, now=now, policy=self.policy
                    )
                )
        decided = await self._decide(cands, snap.states, now)
        by_user: dict[str, list[tuple[Candidate, Decision]]] = {}
        for c, d in decided:
            by_user.setdefault(c.user_id, []).append((c, d))

        def mark(u: str, s: CustomerState) -> CustomerState:
            for c, d in by_user.get(u, []):
                if handled(d):
                    dest = str(c.context["destination"])
                    s = apply_offer_sent(s, kind="abandoned_search", destination=dest, ts=now)
            return s

        def look(u: str, s: CustomerState | None) -> float | None:
            if s is None:
                return None
            state_due = search_due_at(s, self.policy)
            later = [
                next_look(d.reason, now, s.complaint_until)
                for _, d in by_user.get(u, [])
                if not handled(d)
            ]
            retry = now + RETRY_S if u in empty else None
            return earliest(state_due if state_due and state_due > now else None, retry, *later)

        await self._settle(snap, users, set(by_user), mark, ABANDONED_SEARCH, look)
        return len(users)

    # --- held offers -------------------------------------------------------------------------

    async def held(self, now: float) -> int:
        """One step: offers whose hold ended are decided again (cap, consent may have changed)."""
        blobs = await self.store.held(now, self.s.engage_sweep_batch)
        self.read[HELD] += len(blobs)
        if not blobs:
            return 0
        key = self.store.keys.held_offers()
        parsed: list[tuple[bytes, Candidate]] = []
        ops: list[Op] = []
        for b in blobs:
            try:
                c = candidate_from_blob(b)
            except ValueError as exc:
                log.error("dropping an unreadable held offer: %s", exc)
                ops.append(("ZREM", key, b))
                continue
            if now >= c.expires_at:  # e.g. no worker ran for days: too late to deliver
                OFFERS_SUPPRESSED.labels(c.kind, "expired").inc()
                ops.append(("ZREM", key, b))
                continue
            # Released offers are made now (same id, same expiry): created_at is when the
            # push service may deliver it, never inside the quiet hours it waited out.
            parsed.append((b, replace(c, created_at=now)))
        facts = await self.store.facts([c.user_id for _, c in parsed], now)
        pairs = [(c, f) for (_, c), f in zip(parsed, facts, strict=True)]
        decisions = await self.gate.decide_and_reserve_many(pairs, now=now)
        await self.offers.send(
            [
                (c, d)
                for c, d in zip((c for _, c in parsed), decisions, strict=True)
                if d.outcome == "send"
            ]
        )
        for (b, _), d in zip(parsed, decisions, strict=True):
            if d.outcome == "hold":  # held again (a new night began): same member, new score
                assert d.hold_until is not None
                ops.append(("ZADD", key, repr(d.hold_until), b))
            else:
                ops.append(("ZREM", key, b))
        await self.store.write(ops)
        return len(blobs)

    # --- shared ------------------------------------------------------------------------------

    async def _due(self, kind: str, now: float) -> list[str]:
        """The next step's due users, without those this sweep already left for a later one."""
        skip = self._deferred[kind]
        batch = self.s.engage_sweep_batch
        users = await self.store.due(kind, now, batch + len(skip))
        return [u for u in users if u not in skip][:batch]

    async def _decide(
        self, cands: Sequence[Candidate], states: Mapping[str, CustomerState], now: float
    ) -> list[tuple[Candidate, Decision]]:
        """Gate the candidates, produce the sends (acked), park the holds."""
        if not cands:
            return []
        pairs = [(c, facts_as_of(states[c.user_id], now)) for c in cands]
        decisions = await self.gate.decide_and_reserve_many(pairs, now=now)
        decided = list(zip(cands, decisions, strict=True))
        await self.offers.send([(c, d) for c, d in decided if d.outcome == "send"])
        await self.store.write(
            hold_ops(self.store.keys, [(c, d) for c, d in decided if d.outcome == "hold"])
        )
        return decided

    async def _settle(
        self,
        snap: StateSnapshot,
        users: Sequence[str],
        marked: set[str],
        mark: Callable[[str, CustomerState], CustomerState],
        kind: str,
        look: Callable[[str, CustomerState | None], float | None],
    ) -> None:
        """Record sent offers in the states and move each user's due entry, atomically per
        user, checked against the state read: a due entry is never moved on the strength of
        a state that just changed. A user the event pipeline changed meanwhile is reloaded
        and marked again, with backoff; one still changing after a few rounds keeps their
        entry and is left to a later sweep (see the module docstring)."""
        keys = self.store.keys
        pending = list(users)
        for attempt in range(_SETTLE_ROUNDS):
            writes: dict[str, tuple[CustomerState | None, list[Op]]] = {}
            for u in pending:
                s = snap.states.get(u)
                new = mark(u, s) if s is not None and u in marked else s
                # An unchanged state is only checked, not written back.
                writes[u] = (None if new == s else new, [due_op(keys, kind, u, look(u, new))])
            pending = await self.store.commit_each(snap, writes)
            if not pending:
                return
            self.conflicts[kind] += len(pending)
            await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.1)))
            snap = await self.store.load_states((), pending)
        log.info(
            "%s sweep: %d users kept changing under it; left due for a later sweep",
            kind,
            len(pending),
        )
        self._deferred[kind].update(pending)
