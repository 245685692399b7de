"""Final ranking: merge retrieval candidates, filter, score, diversify and explain (pure).

score = w.session    * session     (best next-item rule score / best session score of the request)
      + w.similarity * similarity  (best cosine of short / long / similar)
      + w.affinity   * affinity    (mean share of the user's affinity held by the item's
                                    dest / type / band / stars, over facets both sides know)
      + w.popularity * popularity  (best popular / trending score)
      + w.price_fit  * price_fit   (share of the user's band affinity in the item's band)
      + w.cross_sell * cross_sell  (best cross-sell score)

Affinities are shares within a facet, and every entry of a profile is referenced at the same
time ``p.t``, so decaying them to ``now`` would not change any share. Ties are broken by item id
everywhere, so the same input always gives the same list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple, TypeVar

from recommender import reasons
from recommender.customer_hints import NO_HINTS, CustomerHints
from recommender.features import price_band
from recommender.profile import Booked, Profile

# Which score term each retrieval source feeds.
_TERM_OF_SOURCE: Mapping[str, str] = {
    "session": "session",
    "short": "similarity",
    "long": "similarity",
    "similar": "similarity",
    "popular": "popularity",
    "trending": "popularity",
    "cross_sell": "cross_sell",
}
# On equal contributions the reason comes from the first of these.
_REASON_PRIORITY = ("cross_sell", "session", "similarity", "popularity", "price_fit", "affinity")


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """What ranking needs to know about a catalog item."""

    item_id: str
    item_type: str
    destination: str
    price_base: float | None
    band: str | None  # None: derived from item_type and price_base when possible
    stars: int | None
    title: str | None
    active: bool = True


class Candidate(NamedTuple):
    """One retrieval hit; an item may come from several sources.

    A named tuple rather than a frozen dataclass: a request builds ~150 of them, and a frozen
    dataclass's __init__ (one object.__setattr__ per field) was a tenth of the API's CPU.
    """

    item_id: str
    source: str  # session | short | long | similar | popular | trending | cross_sell
    score: float
    anchor: str | None = None  # recent item (session, similar) or destination (popular, cross_sell)


@dataclass(frozen=True, slots=True)
class RankRequest:
    """What the caller asks for."""

    k: int = 10
    item_types: frozenset[str] | None = None  # None: any type
    destination: str | None = None  # None: any destination
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RankWeights:
    """Weights of the score terms; unitless, candidate scores are expected in [0, 1]."""

    # Session kNN and next-item rules on the current session: the freshest intent signal,
    # and the strongest term in offline replay (`loadtest eval --models live`).
    session: float = 2.0
    # Embedding (short/long) and item-neighbour similarity; cosine. Noisier than the session
    # term: a cosine of 0.9 says "alike", not "wanted next".
    similarity: float = 0.3
    # Fit with the user's destination / type / band / stars affinities.
    affinity: float = 0.2
    # Market popularity and global trends; mostly breaks ties among personal candidates.
    popularity: float = 0.2
    # Item's price band is one the user usually picks.
    price_fit: float = 0.1
    # Hotels, cars and tours for a booked flight's destination: the most certain need.
    cross_sell: float = 4.0
    # Added for upscale and luxury items when the customer is high-value (customer_hints.py).
    premium: float = 0.15
    # Most items per (item_type, destination) among the first k, so one city cannot fill a
    # list: the larger of max_per_group and max_group_share of k. A traveller comparing hotels
    # in one city does want several of them; half a list still leaves room for the rest.
    max_per_group: int = 3
    max_group_share: float = 0.5

    def group_cap(self, k: int) -> int:
        """How many of k items one (item_type, destination) group may take."""
        return max(self.max_per_group, math.floor(k * self.max_group_share))


@dataclass(frozen=True, slots=True)
class Ranked:
    """One recommendation as served."""

    item_id: str
    score: float
    reason: str
    source: str  # the retrieval source with the largest contribution
    item_type: str
    destination: str


@dataclass(frozen=True, slots=True)
class Trip:
    """An upcoming trip, known from a booked flight."""

    destination: str
    start: str | None  # ISO date
    end: str | None


def _shares(profile: Profile | None) -> dict[str, dict[str, float]]:
    """Each affinity as a share of its facet's total; facets without data are left out."""
    shares: dict[str, dict[str, float]] = {}
    for facet, entries in (profile.aff if profile is not None else {}).items():
        total = sum(v for v in entries.values() if v > 0)
        if total > 0:
            shares[facet] = {key: v / total for key, v in entries.items()}
    return shares


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _trip_ahead(b: Booked, today: date) -> bool:
    start, end = _parse_date(b.travel_start), _parse_date(b.travel_end)
    if start is not None:
        return start >= today
    return end is None or end >= today  # start unknown: only a finished trip is ruled out


def cross_sell_trip(profile: Profile | None, *, now: float) -> Trip | None:
    """The trip of the newest confirmed flight booking that has not started yet (UTC dates)."""
    if profile is None:
        return None
    today = datetime.fromtimestamp(now, tz=UTC).date()
    flights = [
        b
        for b in profile.bookings.values()
        if b.status == "confirmed"
        and b.item_type == "flight"
        and b.destination
        and _trip_ahead(b, today)
    ]
    if not flights:
        return None
    b = min(flights, key=lambda b: (-b.ts, b.item_id, b.travel_start or ""))
    return Trip(b.destination, b.travel_start, b.travel_end)


def needs_fallback(profile: Profile | None) -> bool:
    """True for unknown users and users with no item events yet (searches only)."""
    if profile is None:
        return True
    return not profile.recent and profile.embedding("long") is None


def _stronger(a: Candidate, b: Candidate) -> bool:
    """Higher score wins; ties go to the smaller (source, anchor) so input order never matters."""
    if a.score != b.score:
        return a.score > b.score
    return (a.source, a.anchor or "") < (b.source, b.anchor or "")


def _merge(candidates: Iterable[Candidate]) -> dict[str, dict[str, Candidate]]:
    """Best candidate per item and score term."""
    best: dict[str, dict[str, Candidate]] = {}
    for c in candidates:
        term = _TERM_OF_SOURCE.get(c.source)
        if term is None:
            raise ValueError(f"unknown candidate source {c.source!r}")
        per_term = best.setdefault(c.item_id, {})
        current = per_term.get(term)
        if current is None or _stronger(c, current):
            per_term[term] = c
    return best


def _eligible(item_id: str, item: ItemMeta, req: RankRequest, blocked: set[str]) -> bool:
    return (
        item.active
        and item_id not in blocked
        and (req.item_types is None or item.item_type in req.item_types)
        and (req.destination is None or item.destination == req.destination)
    )


def _facet_keys(item: ItemMeta) -> dict[str, str]:
    band = item.band or price_band(item.item_type, item.price_base)
    keys = {"dest": item.destination, "type": item.item_type, "band": band or ""}
    keys["stars"] = str(item.stars) if item.stars else ""
    return {facet: key for facet, key in keys.items() if key}


def _source_reason(
    c: Candidate, item: ItemMeta, items: Mapping[str, ItemMeta], trip: Trip | None
) -> str:
    anchor_item = items.get(c.anchor) if c.anchor else None
    return reasons.for_candidate(
        c.source,
        c.anchor,
        item.destination,
        anchor_label=anchor_item.title if anchor_item is not None else None,
        trip_destination=trip.destination if trip is not None else None,
        trip_start=trip.start if trip is not None else None,
    )


@dataclass(slots=True)
class _Scored:
    """A candidate's score and what explaining it needs (reasons are built for the top k)."""

    score: float
    item_id: str
    item: ItemMeta
    hits: Mapping[str, Candidate]
    parts: dict[str, float]
    known: dict[str, float]
    keys: dict[str, str]


def _score(
    item_id: str,
    item: ItemMeta,
    hits: Mapping[str, Candidate],
    w: RankWeights,
    shares: Mapping[str, Mapping[str, float]],
    session_max: float,
) -> _Scored:
    def hit(term: str) -> float:
        c = hits.get(term)
        return c.score if c is not None else 0.0

    keys = _facet_keys(item)
    known = {f: shares[f].get(k, 0.0) for f, k in keys.items() if f in shares}
    affinity = sum(known.values()) / len(known) if known else 0.0
    price_fit = known.get("band", 0.0)
    session = hit("session") / session_max if session_max > 0 else 0.0
    parts = {
        "cross_sell": w.cross_sell * hit("cross_sell"),
        "session": w.session * session,
        "similarity": w.similarity * hit("similarity"),
        "popularity": w.popularity * hit("popularity"),
        "price_fit": w.price_fit * price_fit,
        "affinity": w.affinity * affinity,
    }
    return _Scored(sum(parts.values()), item_id, item, hits, parts, known, keys)


@dataclass(frozen=True, slots=True)
class _Affinity:
    """The user's affinity shares per facet, looked up once per request (None: no data)."""

    dest: Mapping[str, float] | None
    type: Mapping[str, float] | None
    band: Mapping[str, float] | None
    stars: Mapping[str, float] | None

    @classmethod
    def of(cls, shares: Mapping[str, Mapping[str, float]]) -> _Affinity:
        return cls(shares.get("dest"), shares.get("type"), shares.get("band"), shares.get("stars"))


def _quick_score(
    item: ItemMeta,
    hits: Mapping[str, Candidate],
    w: RankWeights,
    aff: _Affinity,
    session_max: float,
) -> float:
    """The same number as _score, without building what explaining needs.

    Every candidate is scored but only the returned ones are explained. The terms are added
    in _score's order, so both give the same float.
    """
    total = 0.0
    n = 0
    band_share = 0.0
    if aff.dest is not None and item.destination:
        total += aff.dest.get(item.destination, 0.0)
        n += 1
    if aff.type is not None and item.item_type:
        total += aff.type.get(item.item_type, 0.0)
        n += 1
    if aff.band is not None:
        band = item.band or price_band(item.item_type, item.price_base)
        if band:
            band_share = aff.band.get(band, 0.0)
            total += band_share
            n += 1
    if aff.stars is not None and item.stars:
        total += aff.stars.get(str(item.stars), 0.0)
        n += 1
    get = hits.get
    c = get("session")
    session = c.score / session_max if c is not None and session_max > 0 else 0.0
    score = 0.0
    c = get("cross_sell")
    if c is not None:
        score += w.cross_sell * c.score
    c = get("similarity")
    if c is not None:
        score += w.similarity * c.score
    c = get("popularity")
    if c is not None:
        score += w.popularity * c.score
    return (
        score
        + w.session * session
        + w.price_fit * band_share
        + w.affinity * (total / n if n else 0.0)
    )


def _explain(s: _Scored, items: Mapping[str, ItemMeta], trip: Trip | None) -> Ranked:
    """The Ranked answer for a scored candidate, with its reason."""
    item, hits, parts, known, keys = s.item, s.hits, s.parts, s.known, s.keys
    score, item_id = s.score, s.item_id
    # Retrieval source credited with the item: the candidate term contributing most.
    lead = max(hits, key=lambda t: (parts[t], -_REASON_PRIORITY.index(t)))
    top = max(_REASON_PRIORITY, key=lambda t: (parts[t], -_REASON_PRIORITY.index(t)))
    if top in hits and parts[top] > 0:
        reason = _source_reason(hits[top], item, items, trip)
    elif top == "price_fit" and parts[top] > 0:
        reason = reasons.usual_budget()
    elif top == "affinity" and parts[top] > 0:
        facet = max(known, key=lambda f: (known[f], f))
        reason = reasons.affinity(facet, keys[facet], item.item_type)
    else:
        reason = _source_reason(hits[lead], item, items, trip)
    return Ranked(item_id, score, reason, hits[lead].source, item.item_type, item.destination)


T = TypeVar("T")


def _by_group(r: Ranked) -> tuple[str, str]:
    return r.item_type, r.destination


def _diversify(
    ordered: Sequence[T], k: int, max_per_group: int, group: Callable[[T], tuple[str, str]]
) -> list[T]:
    """Greedy in the given order, at most max_per_group per (type, destination); then fill."""
    picked: list[T] = []
    deferred: list[T] = []
    per_group: dict[tuple[str, str], int] = {}
    for r in ordered:
        if len(picked) == k:
            return picked
        g = group(r)
        seen = per_group.get(g, 0)
        if seen < max_per_group:
            per_group[g] = seen + 1
            picked.append(r)
        else:
            deferred.append(r)
    return picked + deferred[: k - len(picked)]


def rank(
    profile: Profile | None,
    candidates: Sequence[Candidate],
    items: Mapping[str, ItemMeta],
    req: RankRequest,
    w: RankWeights,
    *,
    now: float,
    affinity_half_life_s: float,
    hints: CustomerHints = NO_HINTS,
) -> list[Ranked]:
    """The top req.k candidates for one user, filtered, scored, diversified and explained.

    ``hints`` carry what engagement knows: feedback penalties and the premium boost.

    ``affinity_half_life_s`` is accepted for the settings wiring but does not change the
    result: shares within a facet are the same at any reference time.
    """
    if affinity_half_life_s <= 0:
        raise ValueError("affinity_half_life_s must be positive")
    if req.k <= 0:
        return []
    blocked = set(req.exclude)
    if profile is not None:
        # Viewed items stay eligible: travellers return to the hotel they are weighing, and the
        # session rules learn how often. What is on screen right now the caller excludes.
        blocked.update(profile.booked_items())
    merged = _merge(candidates)
    session_max = max((c.score for c in candidates if c.source == "session"), default=0.0)
    shares = _shares(profile)
    aff = _Affinity.of(shares)
    trip = cross_sell_trip(profile, now=now)
    types, dest = req.item_types, req.destination
    adjust = hints.adjust if hints.active else None
    # (-score, item_id, item, hits): sorts by score, ties by id; ids are unique, so the
    # comparison never reaches the item.
    quick: list[tuple[float, str, ItemMeta, dict[str, Candidate]]] = []
    for item_id, hits in merged.items():
        item = items.get(item_id)
        if (
            item is None
            or not item.active
            or item_id in blocked
            or (types is not None and item.item_type not in types)
            or (dest is not None and item.destination != dest)
        ):
            continue
        score = _quick_score(item, hits, w, aff, session_max)
        if adjust is not None:
            score = adjust(item_id, item.item_type, item.band, item.price_base, score, w.premium)
        quick.append((-score, item_id, item, hits))
    quick.sort()
    # Reasons cost more than scores: explain only what is returned.
    out = []
    for neg, item_id, item, hits in _diversify(quick, req.k, w.group_cap(req.k), _quick_group):
        full = _score(item_id, item, hits, w, shares, session_max)
        full.score = -neg  # one number for ordering and display
        out.append(_explain(full, items, trip))
    return out


def _quick_group(q: tuple[float, str, ItemMeta, dict[str, Candidate]]) -> tuple[str, str]:
    return q[2].item_type, q[2].destination


def _best_by_item(candidates: Iterable[Candidate]) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for c in candidates:
        current = best.get(c.item_id)
        if current is None or _stronger(c, current):
            best[c.item_id] = c
    return sorted(best.values(), key=lambda c: (-c.score, c.item_id))


def fallback(
    candidates_popular: Sequence[Candidate],
    candidates_trending: Sequence[Candidate],
    items: Mapping[str, ItemMeta],
    req: RankRequest,
    w: RankWeights,
) -> list[Ranked]:
    """For unknown or cold users: market popular first, then global trending, diversified."""
    if req.k <= 0:
        return []
    blocked = set(req.exclude)
    ordered: list[Ranked] = []
    seen: set[str] = set()
    for c in [*_best_by_item(candidates_popular), *_best_by_item(candidates_trending)]:
        item = items.get(c.item_id)
        if c.item_id in seen or item is None or not _eligible(c.item_id, item, req, blocked):
            continue
        seen.add(c.item_id)
        reason = _source_reason(c, item, items, None)
        score = w.popularity * c.score
        ordered.append(Ranked(c.item_id, score, reason, c.source, item.item_type, item.destination))
    return _diversify(ordered, req.k, w.group_cap(req.k), _by_group)
