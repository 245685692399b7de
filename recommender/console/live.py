"""The live overview's numbers: event rates by topic, dead letters, offer outcomes (pure).

Rates come from the counters the workers keep in Redis (``Keys.stats()`` for ingest,
``Keys.engage_stats()`` for engagement): the console samples them when polled and divides
the difference of two samples by their time apart. Offer outcomes come from the engage
stats hash's ``offers:<kind>:<outcome>:<reason>`` counters when the worker keeps them,
else from a sample of customers' decision logs (``DecisionTally``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HISTORY = 600  # samples kept per process: 20 min at one poll every 2 s
MIN_GAP_S = 1.0  # samples closer than this are not kept (several open tabs poll)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def counters(raw: Mapping[Any, Any]) -> dict[str, float]:
    """A counters hash as HGETALL returns it, values as numbers (unreadable ones dropped)."""
    out: dict[str, float] = {}
    for k, v in raw.items():
        try:
            out[_text(k)] = float(_text(v))
        except ValueError:
            continue
    return out


@dataclass(frozen=True, slots=True)
class Sample:
    """Both counter hashes at one moment."""

    ts: float
    ingest: Mapping[str, float]
    engage: Mapping[str, float]


@dataclass(slots=True)
class OfferCounts:
    """Offer decisions by outcome: sent and held by kind, suppressed by reason and kind."""

    sent: dict[str, float] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)
    suppressed: dict[str, float] = field(default_factory=dict)  # by reason
    suppressed_kinds: dict[str, float] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, reason: str, n: float = 1.0) -> None:
        """Count n decisions of this kind and outcome."""
        if outcome == "send":
            self.sent[kind] = self.sent.get(kind, 0.0) + n
        elif outcome == "hold":
            self.held[kind] = self.held.get(kind, 0.0) + n
        elif outcome == "suppress":
            why = reason or "unknown"
            self.suppressed[why] = self.suppressed.get(why, 0.0) + n
            self.suppressed_kinds[kind] = self.suppressed_kinds.get(kind, 0.0) + n

    def totals(self) -> tuple[float, float, float]:
        """(sent, held, suppressed) over every kind."""
        return sum(self.sent.values()), sum(self.held.values()), sum(self.suppressed.values())

    def as_json(self) -> dict[str, dict[str, float]]:
        """Sorted maps for the overview's JSON."""

        def ordered(d: dict[str, float]) -> dict[str, float]:
            return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))

        return {
            "sent": ordered(self.sent),
            "held": ordered(self.held),
            "suppressed": ordered(self.suppressed),
            "suppressed_kinds": ordered(self.suppressed_kinds),
        }


def offer_counters(engage: Mapping[str, float]) -> OfferCounts | None:
    """Offer counts from ``offers:<kind>:<outcome>:<reason or ->`` fields; None without any."""
    counts: OfferCounts | None = None
    for name, n in engage.items():
        parts = name.split(":")
        if len(parts) != 4 or parts[0] != "offers":
            continue
        counts = counts or OfferCounts()
        counts.add(parts[1], parts[2], "" if parts[3] == "-" else parts[3], n)
    return counts


def offers_from_decisions(entries: Iterable[Mapping[str, str]]) -> OfferCounts:
    """Offer counts from decision-stream entries (fields kind, outcome, reason)."""
    counts = OfferCounts()
    for e in entries:
        counts.add(e.get("kind", ""), e.get("outcome", ""), e.get("reason", ""))
    return counts


def _by_topic(c: Mapping[str, float], kind: str) -> dict[str, float]:
    return {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith(kind + ":")}


def _rate(new: float, old: float | None, dt: float) -> float | None:
    # A counter that went down was reset (Redis flushed): no rate rather than a negative one.
    if old is None or dt <= 0 or new < old:
        return None
    return (new - old) / dt


def topic_table(prev: Sample | None, cur: Sample) -> list[dict[str, Any]]:
    """Per topic: events applied by ingest and by engagement, dead letters, and their rates."""
    dt = cur.ts - prev.ts if prev is not None else 0.0
    cols = {
        "ingest": _by_topic(cur.ingest, "applied"),
        "engage": _by_topic(cur.engage, "applied"),
        "dead": {},
    }
    for src in (cur.ingest, cur.engage):
        for t, n in _by_topic(src, "dead").items():
            cols["dead"][t] = cols["dead"].get(t, 0.0) + n
    old: dict[str, dict[str, float]] = {"ingest": {}, "engage": {}, "dead": {}}
    if prev is not None:
        old["ingest"] = _by_topic(prev.ingest, "applied")
        old["engage"] = _by_topic(prev.engage, "applied")
        for src in (prev.ingest, prev.engage):
            for t, n in _by_topic(src, "dead").items():
                old["dead"][t] = old["dead"].get(t, 0.0) + n
    topics = sorted(set().union(*(c.keys() for c in cols.values())))
    rows = []
    for t in topics:
        row: dict[str, Any] = {"topic": t}
        for col, now_vals in cols.items():
            n = now_vals.get(t, 0.0)
            row[col] = n
            was = old[col].get(t, 0.0 if prev is not None else None)
            row[f"{col}_per_s"] = _rate(n, was, dt)
        rows.append(row)
    return rows


class History:
    """Recent samples of this process, oldest first, for rates and the charts."""

    def __init__(self, size: int = HISTORY) -> None:
        self.samples: deque[Sample] = deque(maxlen=size)

    def add(self, s: Sample) -> Sample | None:
        """Keep s (unless the last sample is under MIN_GAP_S old); return the one before it."""
        last = self.samples[-1] if self.samples else None
        if last is not None and s.ts - last.ts < MIN_GAP_S:
            return self.samples[-2] if len(self.samples) > 1 else None
        self.samples.append(s)
        return last

    def series(self) -> dict[str, Any]:
        """Events/s per topic (ingest, else engagement) and offers/s between samples."""
        out: dict[str, Any] = {"t": [], "topics": {}, "sent": [], "suppressed": [], "held": []}
        pairs = list(zip(list(self.samples)[:-1], list(self.samples)[1:], strict=True))
        for n, (a, b) in enumerate(pairs):
            out["t"].append(b.ts)
            for row in topic_table(a, b):
                rate = row["ingest_per_s"] if row["ingest"] else row["engage_per_s"]
                out["topics"].setdefault(row["topic"], [None] * n).append(rate)
            for line in out["topics"].values():
                if len(line) < n + 1:
                    line.append(None)
            before, after = offer_counters(a.engage), offer_counters(b.engage)
            dt = b.ts - a.ts
            for name, i in (("sent", 0), ("held", 1), ("suppressed", 2)):
                if before is None or after is None:
                    out[name].append(None)
                else:
                    out[name].append(_rate(after.totals()[i], before.totals()[i], dt))
        return out


def per_minute(
    entries: Iterable[Mapping[str, str]], *, now: float, minutes: int = 30
) -> dict[str, list[Any]]:
    """Decisions per minute over the last ``minutes``, by outcome (for the sampled chart)."""
    start = now - minutes * 60
    out: dict[str, list[Any]] = {
        "t": [start + 60 * (i + 1) for i in range(minutes)],
        "sent": [0] * minutes,
        "held": [0] * minutes,
        "suppressed": [0] * minutes,
    }
    names = {"send": "sent", "hold": "held", "suppress": "suppressed"}
    for e in entries:
        try:
            at = float(e.get("at", "0"))
        except ValueError:
            continue
        slot = int((at - start) // 60)
        name = names.get(e.get("outcome", ""))
        if name is not None and 0 <= slot < minutes:
            out[name][slot] += 1
    return out
