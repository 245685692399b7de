"""Offer decisions are summed in the engagement stats hash for the console's live page."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from recommender.keys import Keys
from streams.offer_tally import OfferTally

pytestmark = pytest.mark.integration


async def test_decisions_are_flushed_as_one_increment_per_label_set(
    namespace: dict[str, str],
) -> None:
    r = aioredis.Redis.from_url(namespace["REDIS_URL"])
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    tally = OfferTally(r, keys)
    try:
        for _ in range(3):
            tally("price_drop", "send", None)
        tally("price_drop", "suppress", "no_consent")
        await tally.flush()
        tally("price_drop", "send", None)
        await tally.flush()
        await tally.flush()  # nothing pending: nothing written
        got = {k.decode(): int(v) for k, v in (await r.hgetall(keys.engage_stats())).items()}
        assert got == {"offers:price_drop:send:-": 4, "offers:price_drop:suppress:no_consent": 1}
    finally:
        await r.aclose()
