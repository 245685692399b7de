"""A kill switch set in the console reaches the worker's gate: offers of that kind stop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from recommender.console.overrides import set_kind
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import candidate
from recommender.engagement.policy import CustomerFacts
from recommender.keys import Keys
from schemas import OfferItem
from streams.policy_refresh import PolicyRefresher

pytestmark = pytest.mark.integration

NOON = datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="cheaper now")
FACTS = CustomerFacts(consent={"push": True}, timezone="UTC")


async def test_switching_a_kind_off_and_on_again(namespace: dict[str, str]) -> None:
    r = aioredis.Redis.from_url(namespace["REDIS_URL"])
    keys, policy = Keys(namespace["RECO_KEY_PREFIX"]), EngagementPolicy()
    gate = PushGate(r, keys, policy)
    refresher = PolicyRefresher(gate, r, keys, policy)
    try:
        await set_kind(r, keys, "price_drop", "off")
        await refresher.refresh()
        c = candidate("u1", "price_drop", "h1", NOON, [ITEM], now=NOON, policy=policy)
        d = await gate.decide_and_reserve(c, FACTS, now=NOON)
        assert (d.outcome, d.reason) == ("suppress", "kill_switch")
        # Other kinds are not affected.
        x = candidate("u1", "abandoned_search", "dest:rome", NOON, [ITEM], now=NOON, policy=policy)
        assert (await gate.decide_and_reserve(x, FACTS, now=NOON)).outcome == "send"
        # Back to the configured behaviour.
        await set_kind(r, keys, "price_drop", None)
        await refresher.refresh()
        c2 = candidate("u2", "price_drop", "h1", NOON, [ITEM], now=NOON, policy=policy)
        assert (await gate.decide_and_reserve(c2, FACTS, now=NOON)).outcome == "send"
    finally:
        await r.aclose()
