"""Pure parts of the simulation driver and the price-drop benchmark."""

from __future__ import annotations

from datetime import UTC, datetime

from loadtest import bench_price_drop, simulate
from loadtest.engage_world import EngageWorld, WeekPlan
from schemas import decode
from tests.unit.engagement.helpers import DAY, HOUR, utc

PLAN = simulate.SimPlan(week=WeekPlan(users=50, days=2.0, items=100), tick_s=HOUR)


def test_ticks_cut_the_week_into_barriers_and_the_past_into_one() -> None:
    start = PLAN.week.start
    assert simulate.tick_of(PLAN, start - 90 * DAY) == simulate.tick_of(PLAN, start - 1) == -1
    assert simulate.tick_of(PLAN, start) == 0
    assert simulate.tick_of(PLAN, start + 2.5 * HOUR) == 2
    events = EngageWorld(PLAN.week).events()
    chunks = list(simulate.ticks(PLAN, events))
    assert [e for c in chunks for e in c] == events
    keys = [{simulate.tick_of(PLAN, e.ts) for e in c} for c in chunks]
    assert all(len(k) == 1 for k in keys)
    firsts = [k.pop() for k in keys]
    assert firsts == sorted(set(firsts)) and firsts[0] == -1


def test_event_counts_by_topic_and_kind() -> None:
    events = EngageWorld(PLAN.week).events()
    counts = simulate.count_events(events)
    assert sum(sum(c.values()) for c in counts.values()) == len(events)
    assert set(counts["consent"]) <= {"granted", "withdrawn"}
    assert set(counts["prices"]) <= {"drop", "rise", "unknown_previous"}


def test_the_benchmark_drops_the_price_at_a_past_noon_utc() -> None:
    now = utc(2026, 11, 23, 7, 40)
    assert bench_price_drop.drop_time(now) == utc(2026, 11, 22, 12)
    assert bench_price_drop.drop_time(utc(2026, 11, 23, 13)) == utc(2026, 11, 23, 12)
    assert datetime.fromtimestamp(bench_price_drop.drop_time(now), UTC).hour == 12


def test_the_benchmark_setup_is_valid_events() -> None:
    records = bench_price_drop.setup_records(5, utc(2026, 11, 22, 12), "t")
    assert [r.topic for r in records[:3]] == ["catalog", "consent", "clicks"]
    assert len(records) == 11
    for r in records:
        decode(r.topic, r.value)
    assert len(bench_price_drop._sample_offer(1)) > 200
