"""Training: click and booking events -> sessions -> item vectors + next-item tables (pure).

Sessions are the clicks of one ``session_id`` in time order, each click weighted by its
action (profile.DEFAULT_WEIGHTS: view 1 ... wishlist 3); an item the user went on to book
within ``trip_days`` weighs as a booking (8) in the sessions that led to it. One user's
confirmed bookings that follow each other within ``trip_days`` also form a session (a trip:
flight, hotel, tours at one destination), every item weighted as a booking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recommender.embeddings import EmbeddingParams, ItemFacts, WeightedSession, item_embeddings
from recommender.features import price_band, to_base
from recommender.model import Model, NextItems
from recommender.model_sessions import Sessions
from recommender.profile import DEFAULT_WEIGHTS
from recommender.sessionrec import CoVisitation, SequentialRules
from schemas import SchemaError, decode_booking, decode_click

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class ClickEvent:
    """The parts of a `clicks` record training needs (only clicks on an item)."""

    user_id: str
    session_id: str
    action: str
    item_id: str
    item_type: str | None
    destination: str | None
    price_base: float | None
    ts: float


@dataclass(frozen=True, slots=True)
class BookingEvent:
    """The parts of a `bookings` record training needs."""

    user_id: str
    booking_id: str
    status: str
    item_id: str
    item_type: str | None
    destination: str | None
    ts: float


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Everything a fit depends on besides the data; the CLI builds it from Settings."""

    embedding: EmbeddingParams = field(default_factory=EmbeddingParams)
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    trip_days: float = 30.0
    window_days: float = 90.0  # 0 = every event
    top_n: int = 50
    sr_steps: int = 20  # session-rec's SR settings, as in loadtest/evaluate.py
    sr_weighting: str = "quadratic"
    covisit_window: int = 1
    knn_sessions: int = 200_000  # most recent sessions shipped for session kNN (0: none)


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def parse_click(raw: bytes, rates: Mapping[str, float]) -> ClickEvent | None:
    """A click on an item; None for searches and for what the contract rejects.

    Decoding through the same contract as the worker means training sees exactly the events
    the live profiles saw; rejected ones are in the dead-letter topic.
    """
    try:
        c = decode_click(raw)
    except SchemaError:
        return None
    if c.item_id is None:
        return None
    price = to_base(c.price, c.currency, rates)
    return ClickEvent(
        c.user_id, c.session_id, c.action, c.item_id, c.item_type, c.destination, price, c.ts
    )


def parse_booking(raw: bytes) -> BookingEvent | None:
    """A booking status change, or None for what the contract rejects."""
    try:
        b = decode_booking(raw)
    except SchemaError:
        return None
    return BookingEvent(
        b.user_id, b.booking_id, b.status, b.item_id, b.item_type, b.destination, b.ts
    )


def confirmed(bookings: Iterable[BookingEvent]) -> list[BookingEvent]:
    """Bookings whose latest status is confirmed, by time."""
    last: dict[str, BookingEvent] = {}
    for b in sorted(bookings, key=lambda b: b.ts):
        last[b.booking_id] = b
    kept = [b for b in last.values() if b.status == "confirmed"]
    return sorted(kept, key=lambda b: (b.ts, b.booking_id))


def build_sessions(
    clicks: Sequence[ClickEvent],
    bookings: Sequence[BookingEvent],
    *,
    weights: Mapping[str, float],
    trip_days: float,
) -> tuple[list[list[str]], list[WeightedSession]]:
    """(click sessions as item lists, by start; weighted click sessions + trip sessions)."""
    by_session: dict[str, list[ClickEvent]] = {}
    for c in clicks:
        if weights.get(c.action, 0.0) > 0:
            by_session.setdefault(c.session_id, []).append(c)
    sessions = sorted(
        (sorted(cs, key=lambda c: c.ts) for cs in by_session.values()),
        key=lambda cs: (cs[0].ts, cs[0].session_id),
    )
    items = [[c.item_id for c in cs] for cs in sessions]
    wts = [[weights[c.action] for c in cs] for cs in sessions]
    book_w = weights.get("book", 8.0)
    trip_s = trip_days * DAY_S
    done = confirmed(bookings)
    # The sessions that led to a booking: the user's, holding the item, ending at most
    # trip_s before it.
    of_user: dict[str, list[int]] = {}
    for s, cs in enumerate(sessions):
        of_user.setdefault(cs[0].user_id, []).append(s)
    for b in done:
        for s in of_user.get(b.user_id, ()):
            cs = sessions[s]
            if cs[0].ts <= b.ts and b.ts - cs[-1].ts <= trip_s:
                row = wts[s]
                for n, item in enumerate(items[s]):
                    if item == b.item_id:
                        row[n] = max(row[n], book_w)
    weighted = [WeightedSession(i, w) for i, w in zip(items, wts, strict=True)]
    trips: dict[str, list[BookingEvent]] = {}
    for b in done:
        trip = trips.get(b.user_id)
        if trip and b.ts - trip[-1].ts > trip_s:
            weighted.append(_trip(trip, book_w))
            trip = None
        if not trip:
            trip = trips[b.user_id] = []
        trip.append(b)
    weighted.extend(_trip(t, book_w) for t in trips.values() if t)
    return items, weighted


def _trip(bookings: Sequence[BookingEvent], weight: float) -> WeightedSession:
    return WeightedSession([b.item_id for b in bookings], [weight] * len(bookings))


def item_facts(
    catalog: Mapping[str, Mapping[str, Any]],
    clicks: Iterable[ClickEvent],
    bookings: Iterable[BookingEvent],
) -> dict[str, ItemFacts]:
    """Facts of catalog items (stored metadata), then of items only events describe."""
    facts: dict[str, ItemFacts] = {}
    for item_id, m in catalog.items():
        stars = m.get("stars")
        attrs = m.get("attributes")
        facts[item_id] = ItemFacts(
            _str(m.get("item_type")),
            _str(m.get("destination")),
            _str(m.get("band")),
            stars if isinstance(stars, int) and not isinstance(stars, bool) else None,
            attrs if isinstance(attrs, dict) else None,
        )
    for c in clicks:  # the latest event about an unknown item wins
        if c.item_id not in catalog and c.item_type:
            band = price_band(c.item_type, c.price_base)
            facts[c.item_id] = ItemFacts(c.item_type, c.destination, band)
    for b in bookings:
        if b.item_id not in facts and b.item_type:
            facts[b.item_id] = ItemFacts(b.item_type, b.destination, None)
    return facts


def fit(
    clicks: Sequence[ClickEvent],
    bookings: Sequence[BookingEvent],
    catalog: Mapping[str, Mapping[str, Any]],
    params: TrainParams,
    *,
    now: float,
) -> Model:
    """Train a model on events (only the last `window_days` of them) and catalog metadata."""
    newest = max([c.ts for c in clicks] + [b.ts for b in bookings], default=now)
    if params.window_days > 0:
        since = newest - params.window_days * DAY_S
        clicks = [c for c in clicks if c.ts >= since]
        bookings = [b for b in bookings if b.ts >= since]
    items, weighted = build_sessions(
        clicks, bookings, weights=params.weights, trip_days=params.trip_days
    )
    return fit_sessions(
        items,
        weighted,
        item_facts(catalog, clicks, bookings),
        params,
        now=now,
        extra={"clicks": len(clicks), "bookings": len(bookings)},
    )


def fit_sessions(
    items: Sequence[Sequence[str]],
    weighted: Sequence[WeightedSession],
    facts: Mapping[str, ItemFacts],
    params: TrainParams,
    *,
    now: float,
    extra: Mapping[str, Any] | None = None,
) -> Model:
    """Train on ready-made sessions: `items` feed the rule tables, `weighted` the vectors."""
    emb = item_embeddings(weighted, facts, params.embedding)
    sr = SequentialRules(steps=params.sr_steps, weighting=params.sr_weighting)
    covisit = CoVisitation(window=params.covisit_window)
    for s in items:
        sr.add_session(s, 0.0)
        covisit.add_session(s, 0.0)
    index = {item: i for i, item in enumerate(emb.ids)}
    tables = {
        "sr": NextItems.from_rules(sr.rules, index, params.top_n),
        "covisit": NextItems.from_rules(covisit.rules, index, params.top_n),
    }
    e = params.embedding
    stats: dict[str, Any] = {
        **(extra or {}),
        "sessions": len(items),
        "weighted_sessions": len(weighted),
        "vectors": emb.stats,
        "params": {
            "dim": e.dim,
            "window": e.window,
            "min_count": e.min_count,
            "alpha": e.alpha,
            "trip_days": params.trip_days,
            "window_days": params.window_days,
            "top_n": params.top_n,
            "sr": [params.sr_steps, params.sr_weighting],
            "covisit_window": params.covisit_window,
        },
    }
    sessions = Sessions.from_lists(items, index, params.knn_sessions)
    stats["knn_sessions"] = len(sessions)
    return Model.create(
        emb.ids, emb.vectors, tables, stats, created_at=now, sessions=sessions or None
    )
