"""Which price-drop and cross-sell offers a simulated week must produce, from ground truth.

Eligibility. The simulator replays its own events once each, in event-time order, through the
same pure engagement functions the worker uses (signals, loyalty, triggers), so it knows
each user's state at every trigger:

* price drop: as the spec says, every update qualifies each watcher (viewed or wishlisted
  within the window, not booked) whose reference price it is at least
  ``price_drop_min_share`` below: the price they saw, or (mode 'previous', or no price seen)
  the previous price: the event's, else the last update's, else the catalog's. Nothing here
  mirrors the worker's shortcut of not reading the watchers of an update that cannot
  qualify anyone, so a shortcut that skips a qualifying watcher shows as a missing offer;
* cross-sell: every new confirmed flight booking, when the destination had hotels, cars or
  tours with popularity on an earlier day of the popularity window (the worker offers
  popular items; with none there is nothing to offer).

Each candidate is decided with ``policy.decide`` at the trigger's time with the user's
consent, time zone and complaint hold. Cap and cooldown depend on the other offers the user
got, some from sweeps whose timing is the worker's, so they are judged against the offers
actually received: a cooldown is legitimate when another offer about the same user and item
came within the cooldown, and an offer is excused as capped only when the user already had
``daily_cap`` other offers that local day. Held offers (quiet hours) are decided again when a
sweep releases them, a sweep's lag after their hold ends: consent and complaint hold are
replayed at the hold's end, and offer_reconcile.py applies the cap and cooldown part (for a
received one at the time it was released, which the offer carries).

Not judged (``unsure``) are candidates whose outcome depends on the order in which the worker
sees events the simulation produced in the same barrier tick (a consent change, complaint,
click on or booking of the item by the same user, a click that pushes the item out of the
bounded watch list, another offer about the same item decided in that tick), because its
consumers may apply those in either order; and holds that end after the simulated week.
One such order lasts beyond its tick: a user with a full watch list who watches an item and
books it in one tick loses their oldest watched item only if the click is applied first (a
booked item is not watched), so until the lists agree again (the item is pushed out whatever
the order) a drop of that oldest item is not judged either (``eviction_order``). The same
holds for every later watch of that user in that tick: the watched-and-booked item takes a
slot in one order and not in the other, so what a later watch pushes out, or would push out
with one more item in the list (the oldest left), may differ too.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.loyalty import apply_booking
from recommender.engagement.offers import Candidate, offer_id
from recommender.engagement.policy import decide, facts_of
from recommender.engagement.signals import apply_click, apply_consent, apply_feedback
from recommender.engagement.state import CustomerState, Watch, keep_newest, with_entry
from recommender.engagement.terms import OfferKind
from recommender.engagement.triggers import Watcher, price_drop_hits
from schemas import OfferItem

CHECKED_KINDS = ("price_drop", "cross_sell")
RELEASE_SLACK_TICKS = 3  # sweeps release holds a little after they end, on the event clock
_ITEM = (OfferItem(item_id="x", item_type="hotel", score=1.0, reason="x"),)


@dataclass(frozen=True, slots=True)
class Expected:
    """What the policy says about one candidate offer."""

    offer_id: str
    user_id: str
    kind: str
    item_key: str
    at: float  # trigger time (decision time unless held)
    outcome: str  # send | hold | suppress | unsure
    reason: str | None = None
    until: float | None = None  # end of the hold


@dataclass
class Replay:
    """Ground-truth state of every user, fed one event at a time in event-time order."""

    policy: EngagementPolicy
    base_prices: Mapping[str, float]
    items: Mapping[str, tuple[str, str]]  # item -> (item type, destination)
    tick_of: Callable[[float], int]
    states: dict[str, CustomerState] = field(default_factory=dict)
    expected: dict[str, Expected] = field(default_factory=dict)
    _watchers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _last_price: dict[str, float] = field(default_factory=dict)
    _user_ticks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    _item_ticks: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    _watch_ticks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # user -> ticks in which they watched an item and booked that item
    _watch_book_ticks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    _evicted: dict[tuple[str, str], int] = field(default_factory=dict)  # -> tick it happened
    _booking_ticks: dict[tuple[str, str], set[int]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # user -> item -> tick: whether the item left (or stayed in) the watch list depended on the
    # order of a watch and a booking in that tick (the worker's order may differ)
    _unsettled: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    # the same, at the margin of a list that held the watched-and-booked item in one order
    # only: user -> item -> tick (rebuilt at each watch of that tick), and user -> (tick, the
    # item the last watch of that tick pushed out)
    _margin: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    _last_out: dict[str, tuple[int, str]] = field(default_factory=dict)
    _popular: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    _holds: list[tuple[float, str, Candidate]] = field(default_factory=list)

    def index(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Learn, before replaying, in which ticks each user's inputs change: an event later
        in the same tick as a trigger may still reach the worker before it."""
        watched: dict[tuple[str, str], set[int]] = defaultdict(set)
        for topic, p in events:
            tick = self.tick_of(float(p["ts"]))
            user = str(p.get("user_id"))
            if topic == "consent" or (topic == "feedback" and p["kind"] == "complaint"):
                self._user_ticks[user].add(tick)
            elif topic in ("clicks", "bookings") and p.get("item_id") is not None:
                self._item_ticks[(user, p["item_id"])].add(tick)
                if topic == "bookings":
                    self._booking_ticks[(user, p["item_id"])].add(tick)
                if p.get("action") in self.policy.watch_actions:
                    self._watch_ticks[user].add(tick)
                    watched[(user, p["item_id"])].add(tick)
        for (user, item), ticks in watched.items():
            self._watch_book_ticks[user] |= ticks & self._booking_ticks.get((user, item), set())

    def apply(self, topic: str, p: Mapping[str, Any]) -> None:
        """One event (wire payload) of a logical topic, after ``index`` saw them all."""
        ts = float(p["ts"])
        self._release(ts)
        if topic == "prices":
            self._price(p, ts)
            return
        user, tick, pol = p["user_id"], self.tick_of(ts), self.policy
        s = self.states.get(user, CustomerState())
        if topic == "clicks":
            item = p.get("item_id")
            before = s.watched
            s = apply_click(
                s,
                action=p["action"],
                ts=ts,
                item_id=item,
                destination=p.get("destination"),
                price=p.get("price"),
                policy=pol,
            )
            for gone in before.keys() - s.watched.keys():  # pushed out by the bound
                self._evicted[(user, gone)] = tick
            if item is not None:
                booked_now = tick in self._booking_ticks.get((user, item), ())
                watch = p["action"] in pol.watch_actions
                if booked_now and watch:
                    for gone in self._dropped_either_way(before, s, item, ts, p.get("price")):
                        self._unsettled[user][gone] = tick
                if watch and tick in self._watch_book_ticks.get(user, ()):
                    self._mark_margin(user, before, s, tick)
                self._settle(user, s, tick)
                self._touch(item, ts, tick)
                if p["action"] in pol.watch_actions:
                    self._watchers[item].add(user)
        elif topic == "bookings":
            fresh = p["booking_id"] not in s.ledger
            s = apply_booking(
                s,
                booking_id=p["booking_id"],
                status=p["status"],
                ts=ts,
                amount=float(p["amount"]),
                item_id=p["item_id"],
                item_type=p["item_type"],
                destination=p["destination"],
                policy=pol,
            )
            if p["status"] == "confirmed":
                self._touch(p["item_id"], ts, tick)
                if fresh and p["item_type"] == "flight":
                    self.states[user] = s
                    self._cross_sell(user, p, ts, tick)
        elif topic == "consent":
            s = apply_consent(
                s, channel=p["channel"], granted=p["granted"], ts=ts, timezone=p.get("timezone")
            )
        elif topic == "feedback":
            s = apply_feedback(
                s,
                kind=p["kind"],
                ts=ts,
                item_id=p.get("item_id"),
                rating=p.get("rating"),
                policy=pol,
            )
        self.states[user] = s

    def finish(self, clock_end: float) -> None:
        """Release holds that end by the final clock; the rest cannot be judged."""
        self._release(clock_end, inclusive=True)
        for _, oid, _ in self._holds:
            self.expected[oid] = replace(
                self.expected[oid], outcome="unsure", reason="held_past_end"
            )
        self._holds.clear()

    def _touch(self, item: str, ts: float, tick: int) -> None:
        itype, dest = self.items.get(item, ("", ""))
        if itype in self.policy.cross_sell_item_types:
            day = int(ts // DAY_S)
            days = self._popular[dest]
            days[day] = min(days.get(day, tick), tick)

    def _price(self, p: Mapping[str, Any], ts: float) -> None:
        item, price = p["item_id"], float(p["price"])
        prev = p.get("previous_price")
        prev = (
            float(prev)
            if prev is not None
            else self._last_price.get(item, self.base_prices.get(item))
        )
        self._last_price[item] = price
        watchers = []
        for u in self._watchers.get(item, ()):
            w = self.states[u].watched.get(item)
            if w is not None:
                watchers.append(Watcher(u, w.ts, w.price, self.states[u].booked(item)))
        hits = price_drop_hits(price, prev, watchers, now=ts, policy=self.policy)
        tick = self.tick_of(ts)
        for h in hits:
            busy = tick in self._item_ticks.get((h.user_id, item), ())
            cause = "same_tick_item" if busy else self._eviction(h.user_id, tick)
            if cause is None and self._unsettled_drop(h.user_id, item):
                cause = "eviction_order"
            self._candidate(h.user_id, "price_drop", item, ts, ts, tick, cause)
        # Past watchers who are none now because of an event in this very tick (a booking of
        # the item, or a click on another one that pushed it out of the bounded watch list):
        # the worker may apply that event after the drop.
        for u in self._watchers.get(item, ()):
            if tick in self._item_ticks.get((u, item), ()):
                cause = "same_tick_item"
            elif self._evicted.get((u, item)) == tick and item not in self.states[u].watched:
                cause = "same_tick_eviction"
            elif item not in self.states[u].watched and self._unsettled_drop(u, item):
                cause = "eviction_order"
            else:
                continue
            oid = offer_id(u, "price_drop", item, ts)
            self.expected.setdefault(oid, Expected(oid, u, "price_drop", item, ts, "unsure", cause))

    def _dropped_either_way(
        self,
        before: Mapping[str, Watch],
        after: CustomerState,
        item: str,
        ts: float,
        price: float | None,
    ) -> set[str]:
        """What a watch of ``item``, booked in the same tick, pushed out of the full watch list
        (applied before the booking) or would have (the booking came first here)."""
        gone = before.keys() - after.watched.keys()
        if gone or item in before or item in after.watched:
            return set(gone)
        grown = with_entry(before, item, Watch(ts, price))
        kept = keep_newest(grown, self.policy.max_watched, lambda w: w.ts)
        return set(grown.keys() - kept.keys())

    def _mark_margin(
        self, user: str, before: Mapping[str, Watch], after: CustomerState, tick: int
    ) -> None:
        """After a watch in a tick in which the user watched and booked one item: the item
        that slot decides. Watches push out the oldest first, so with one item fewer in the
        list the other order has not pushed out the last one pushed out here, and with one
        more it has also pushed out the oldest one left (when the list is full)."""
        gone = before.keys() - after.watched.keys()
        if gone:  # a watch adds one item, so it pushes out one at most
            self._last_out[user] = (tick, min(gone))
        marks = self._margin[user]
        for item in [i for i, t in marks.items() if t == tick]:
            del marks[item]
        last = self._last_out.get(user)
        if last is not None and last[0] == tick:
            marks[last[1]] = tick
        if len(after.watched) >= self.policy.max_watched:
            ranked = sorted(after.watched.items(), key=lambda kv: (-kv[1].ts, kv[0]))
            marks[ranked[-1][0]] = tick

    def _settle(self, user: str, s: CustomerState, tick: int) -> None:
        """Forget order-dependent evictions the lists agree on again: once the list is full
        without the item, the other order has pushed it out too (it was the oldest)."""
        full = len(s.watched) >= self.policy.max_watched
        for marks in (self._unsettled.get(user, {}), self._margin.get(user, {})):
            for item, t in list(marks.items()):
                if t < tick and full and item not in s.watched:
                    del marks[item]

    def _unsettled_drop(self, user: str, item: str) -> bool:
        """Whether the worker may hold the other answer about the user watching the item."""
        marked = item in self._unsettled.get(user, {}) or item in self._margin.get(user, {})
        return marked and not self.states[user].booked(item)

    def _eviction(self, user: str, tick: int) -> str | None:
        """'same_tick_eviction' when the user's watch list is full and they watched something
        in this tick: a click later in the tick may push this item out first."""
        full = len(self.states[user].watched) >= self.policy.max_watched
        return "same_tick_eviction" if full and tick in self._watch_ticks.get(user, ()) else None

    def _cross_sell(self, user: str, p: Mapping[str, Any], ts: float, tick: int) -> None:
        dest = p["destination"]
        window = (date.fromisoformat(p["travel_start"]).toordinal() - 719_163) * DAY_S
        today = int(ts // DAY_S)
        days = self._popular.get(dest, {})
        earlier = any(today - 7 < d < today and t < tick for d, t in days.items())
        if not earlier:
            cause = "items_only_today" if today in days else "no_items"
            oid = offer_id(user, "cross_sell", f"dest:{dest}", window)
            if oid not in self.expected:
                outcome = "unsure" if cause == "items_only_today" else "suppress"
                self.expected[oid] = Expected(
                    oid, user, "cross_sell", f"dest:{dest}", ts, outcome, cause
                )
            return
        self._candidate(user, "cross_sell", f"dest:{dest}", window, ts, tick, None)

    def _candidate(
        self,
        user: str,
        kind: OfferKind,
        key: str,
        window: float,
        at: float,
        tick: int,
        cause: str | None,
    ) -> None:
        oid = offer_id(user, kind, key, window)
        if oid in self.expected:
            return  # the same offer again (a redelivered trigger): the gate's first answer holds
        c = Candidate(user, kind, key, window, _ITEM, at, at + self.policy.offer_ttl_hours * 3600)
        d = decide(c, facts_of(self.states[user]), at, self.policy)
        if cause is None and tick in self._user_ticks.get(user, ()):
            cause = "same_tick_consent_or_complaint"
        if cause is not None:
            self.expected[oid] = Expected(oid, user, kind, key, at, "unsure", cause)
        elif d.outcome == "hold":
            assert d.hold_until is not None
            self.expected[oid] = Expected(oid, user, kind, key, at, "hold", d.reason, d.hold_until)
            heapq.heappush(self._holds, (d.hold_until, oid, c))
        else:
            self.expected[oid] = Expected(oid, user, kind, key, at, d.outcome, d.reason)

    def _release(self, now: float, *, inclusive: bool = False) -> None:
        """Decide again the holds that ended before ``now``, as the held-offers sweep does."""
        while self._holds and (self._holds[0][0] < now or (inclusive and self._holds[0][0] <= now)):
            until, oid, c = heapq.heappop(self._holds)
            e = self.expected[oid]
            ticks = self._user_ticks.get(e.user_id, set())
            t0 = self.tick_of(until)
            if any(t0 <= t <= t0 + RELEASE_SLACK_TICKS for t in ticks):
                self.expected[oid] = replace(
                    e, outcome="unsure", reason="consent_change_at_release"
                )
                continue
            d = decide(c, facts_of(self.states[e.user_id]), until, self.policy)
            if d.outcome == "suppress":
                self.expected[oid] = replace(e, outcome="suppress", reason=f"{d.reason}_at_release")
