"""The live overview's numbers: rates from counter samples, offer counts, history series."""

from __future__ import annotations

from recommender.console.live import (
    History,
    Sample,
    counters,
    offer_counters,
    offers_from_decisions,
    per_minute,
    topic_table,
)


def _s(ts: float, clicks: float, dead: float = 0.0, **engage: float) -> Sample:
    return Sample(
        ts, {"applied:clicks": clicks, "dead:clicks": dead, "last_commit_ts": ts}, dict(engage)
    )


def test_counters_decode_and_drop_unreadable_values() -> None:
    assert counters({b"applied:clicks": b"12", b"bad": b"x"}) == {"applied:clicks": 12.0}


def test_rates_are_differences_over_time_and_resets_give_none() -> None:
    prev, cur = _s(100.0, 1000), _s(102.0, 1500, dead=4, **{"applied:consent": 6.0})
    rows = {r["topic"]: r for r in topic_table(prev, cur)}
    assert rows["clicks"]["ingest_per_s"] == 250.0
    assert rows["clicks"]["dead"] == 4 and rows["clicks"]["dead_per_s"] == 2.0
    assert rows["consent"]["engage_per_s"] == 3.0  # a topic new since the last sample
    assert topic_table(None, cur)[0]["ingest_per_s"] is None  # first sample: no rate yet
    reset = {r["topic"]: r for r in topic_table(cur, _s(104.0, 10))}
    assert reset["clicks"]["ingest_per_s"] is None  # Redis was flushed: no negative rate


def test_offer_counters_from_the_engage_stats_hash() -> None:
    engage = {
        "applied:clicks": 10.0,
        "offers:price_drop:send:-": 7.0,
        "offers:price_drop:suppress:cap": 2.0,
        "offers:reactivation:suppress:no_consent": 3.0,
        "offers:cross_sell:hold:quiet_hours": 1.0,
    }
    got = offer_counters(engage)
    assert got is not None
    assert got.as_json()["sent"] == {"price_drop": 7.0}
    assert got.as_json()["suppressed"] == {"no_consent": 3.0, "cap": 2.0}
    assert got.held == {"cross_sell": 1.0}
    assert got.totals() == (7.0, 1.0, 5.0)
    assert offer_counters({"applied:clicks": 1.0}) is None  # the worker keeps no totals


def test_offer_counts_from_sampled_decisions_and_per_minute_buckets() -> None:
    now = 10_000.0
    entries = [
        {"kind": "price_drop", "outcome": "send", "reason": "", "at": str(now - 30)},
        {"kind": "price_drop", "outcome": "suppress", "reason": "cap", "at": str(now - 90)},
        {"kind": "reactivation", "outcome": "suppress", "reason": "", "at": str(now - 4000)},
    ]
    counts = offers_from_decisions(entries)
    assert counts.suppressed == {"cap": 1.0, "unknown": 1.0}
    buckets = per_minute(entries, now=now, minutes=3)
    assert buckets["sent"] == [0, 0, 1] and buckets["suppressed"] == [0, 1, 0]


def test_history_keeps_spaced_samples_and_draws_series() -> None:
    h = History(size=10)
    assert h.add(_s(100.0, 0, **{"offers:price_drop:send:-": 0.0})) is None
    first = h.samples[0]
    assert h.add(_s(100.5, 50)) is None  # too close to the last one: not kept
    assert h.add(_s(102.0, 100, **{"offers:price_drop:send:-": 4.0})) is first
    h.add(_s(104.0, 300))
    series = h.series()
    assert series["t"] == [102.0, 104.0]
    assert series["topics"]["clicks"] == [50.0, 100.0]
    assert series["sent"] == [2.0, None]  # the last sample had no offer counters
