"""The console's Redis parts against real Redis: audit trail, policy overrides, offer sample."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from recommender import audit
from recommender.console.decision_sample import DecisionSampler
from recommender.console.overrides import effective_policy, read_overrides, set_kind
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import candidate
from recommender.engagement.policy import CustomerFacts
from recommender.keys import Keys
from schemas import OfferItem

pytestmark = pytest.mark.integration


@pytest.fixture
async def r(namespace: dict[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(namespace["REDIS_URL"])
    yield client
    await client.aclose()


@pytest.fixture
def keys(namespace: dict[str, str]) -> Keys:
    return Keys(namespace["RECO_KEY_PREFIX"])


async def test_audit_query_by_subject_and_time_range_pages_through_the_stream(
    r: aioredis.Redis, keys: Keys
) -> None:
    now = time.time()
    for i in range(1200):  # more than one page of XREVRANGE
        subject = "u-watched" if i % 100 == 0 else f"u{i}"
        await audit.append(
            r, keys, actor="ana", action="customer_lookup", subject=subject, now=now - 1200 + i
        )
    found = await audit.query(r, keys, subject="u-watched")
    assert [e.ts for e in found] == [now - 1200 + i for i in range(1100, -1, -100)]  # newest first
    recent = await audit.query(r, keys, subject="u-watched", since=now - 500, until=now - 150)
    assert [e.ts for e in recent] == [now - 200, now - 300, now - 400, now - 500]
    assert len(await audit.query(r, keys, actor="ana", limit=7)) == 7
    assert await audit.query(r, keys, subject="nobody") == []


async def test_audit_trims_entries_older_than_the_retention(r: aioredis.Redis, keys: Keys) -> None:
    await r.xadd(keys.audit(), {"actor": "a", "ts": "1"}, id="1000-0")  # from 1970
    await audit.append(r, keys, actor="a", action="x", subject="s", now=time.time(), keep_days=1)
    assert [e.actor for e in await audit.query(r, keys)] == ["a"]
    assert await r.xlen(keys.audit()) == 1


async def test_overrides_round_trip_through_redis(r: aioredis.Redis, keys: Keys) -> None:
    policy = EngagementPolicy()
    await set_kind(r, keys, "price_drop", "off")
    await set_kind(r, keys, "cross_sell", "on")
    got = await read_overrides(r, keys)
    assert effective_policy(policy, got).disabled_kinds == frozenset({"price_drop"})
    await set_kind(r, keys, "price_drop", None)
    assert (await read_overrides(r, keys)).kinds == {"cross_sell": True}


async def test_the_decision_sample_finds_the_gates_decisions(r: aioredis.Redis, keys: Keys) -> None:
    now = time.time()
    policy = EngagementPolicy(quiet_start="00:00", quiet_end="00:00")
    gate = PushGate(r, keys, policy)
    item = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="r")
    for n, consent in enumerate([{}, {"push": True}, {}]):
        offer = candidate(f"u{n}", "price_drop", "h1", now, [item], now=now, policy=policy)
        await gate.decide_and_reserve(offer, CustomerFacts(consent=consent), now=now)
    sampler = DecisionSampler(r, keys)
    step = 0
    while sampler.passes == 0:  # a shared Redis may need several refreshes for one walk
        sample = await sampler.sample(now + 15.0 * step)
        step += 1
    assert sample.customers == 3
    outcomes = sorted((e["outcome"], e["reason"]) for e in sample.entries)
    assert outcomes == [("send", ""), ("suppress", "no_consent"), ("suppress", "no_consent")]
    assert await sampler.sample(now + 15.0 * step - 1) is sample  # cached between refreshes
