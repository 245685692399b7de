"""The price-drop fan-out's shortcuts give what the slow paths give."""

from __future__ import annotations

import gc
import random

import pytest
from aiokafka.partitioner import murmur2

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.offers import build_offer, candidate
from schemas import OfferItem, encode
from streams.engage_offers import OfferEncoder, partitions_of
from streams.engage_prices import gc_paused

ITEM = OfferItem(
    item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now", price=80.0, currency="CNY"
)
T = 1_717_243_200.0
P = EngagementPolicy()


def default_partition(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n  # aiokafka's DefaultPartitioner


@pytest.mark.parametrize("n", [1, 4, 12, 97])
def test_partitions_are_kafkas_default_partitions(n: int) -> None:
    rnd = random.Random(n)
    keys = [rnd.randbytes(rnd.randint(0, 23)) for _ in range(3000)]
    keys += [f"w{i:07d}".encode() for i in range(2000)]  # one length: the vectorised path
    keys += ["用户-é".encode(), b"\xff" * 9]
    assert partitions_of(keys, n) == [default_partition(k, n) for k in keys]


def test_no_keys_no_partitions() -> None:
    assert partitions_of([], 4) == []


def test_offer_bytes_with_the_decisions_offer_id_equal_the_schema_encoder() -> None:
    enc = OfferEncoder()
    users = [f"u{i}" for i in range(3)]
    cands = [
        candidate(u, "price_drop", "h1", T, [ITEM], now=T, policy=P, context={"drop_pct": 20.0})
        for u in users
    ]
    for c in cands:  # the candidates' item tuples differ, their item does not: one dump
        assert enc.offer(c, "sms", c.offer_id) == encode(build_offer(c, "sms"))
        assert enc.offer(c, "sms") == encode(build_offer(c, "sms"))
    assert len(enc._items) == 1
    other = OfferItem(item_id="h2", item_type="hotel", score=0.5, reason="Also cheaper")
    c = candidate("u9", "price_drop", "h1", T, [ITEM, other], now=T, policy=P)
    assert enc.offer(c, "push") == encode(build_offer(c, "push"))


def test_gc_paused_resumes_the_collector_when_the_last_fan_out_ends() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer fan-out still runs
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("fan-out failed")
    assert gc.isenabled()


def test_gc_paused_leaves_a_collector_someone_else_stopped_stopped() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
