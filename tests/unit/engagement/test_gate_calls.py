"""How PushGate groups offers into script calls (no Redis: the grouping is pure)."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from redis.crc import key_slot

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import CustomerFacts, decide_many
from recommender.keys import Keys
from schemas import OfferItem
from tests.unit.engagement.helpers import utc

NOON = utc(2024, 6, 1, 12)
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
POLICY = EngagementPolicy()


def gate(prefix: str = "reco", **kw: object) -> PushGate:
    return PushGate(None, Keys(prefix), POLICY, **kw)  # type: ignore[arg-type]


def offers(users: list[str], item: str = "h1") -> list[Candidate]:
    return [Candidate(u, "price_drop", item, NOON, (ITEM,), NOON, NOON + 3600) for u in users]


def user_keys(k: Keys, u: str) -> list[str]:
    every: list[Callable[..., str]] = [k.user, k.customer, k.decisions, k.customer_facts]
    return [f(u) for f in every] + [
        k.offer_decision(u, "o" * 32),
        k.offers_sent(u, "20240601"),
        k.offer_cooldown(u, "h1"),
    ]


@pytest.mark.parametrize("prefix", ["reco", "t1a2b3", "a{b", "x}y"])
def test_the_slot_is_the_slot_of_every_key_of_the_user(prefix: str) -> None:
    g, k = gate(prefix), Keys(prefix)
    rnd = random.Random(3)
    for _ in range(2000):
        u = "".join(rnd.choice(string.ascii_letters + "é:{-") for _ in range(rnd.randint(1, 12)))
        assert g._slot(u) == key_slot(k.decisions(u).encode())
        if not u.startswith("}"):  # else the hash tag is empty and each key hashes whole
            assert {key_slot(key.encode()) for key in user_keys(k, u)} == {g._slot(u)}


def test_slot_groups_never_mix_slots_and_keep_the_batch_order() -> None:
    g = gate(max_per_call=3)
    rnd = random.Random(5)
    users = [f"u{rnd.randrange(40_000)}" for _ in range(5000)]
    users += users[:50]  # some users have two offers
    groups = g._groups(offers(users))
    assert sorted(i for idx in groups for i in idx) == list(range(len(users)))
    for idx in groups:
        assert len({g._slot(users[i]) for i in idx}) == 1
        assert idx == sorted(idx) and len(idx) <= 3


def test_a_fan_out_in_call_order_needs_one_call_per_slot() -> None:
    g = gate()
    users = [f"w{i:07d}" for i in range(100_000)]
    ordered = [users[i] for i in g.call_order(users)]
    slots = [g._slot(u) for u in ordered]
    assert slots == sorted(slots)
    calls = sum(len(g._groups(offers(ordered[i : i + 5000]))) for i in range(0, 100_000, 5000))
    distinct = len(set(slots))
    assert distinct <= calls <= distinct + 20  # a slot may straddle two chunks
    assert calls < 17_000  # ~100k calls unsorted


def test_batch_groups_are_runs_of_the_batch() -> None:
    g = gate(grouping="batch", max_per_call=128)
    users = [f"u{i}" for i in range(300)]
    assert g.call_order(users) == list(range(300))
    assert g._groups(offers(users)) == [
        list(range(0, 128)),
        list(range(128, 256)),
        list(range(256, 300)),
    ]


def test_a_call_carries_keys_and_arguments_in_the_scripts_layout() -> None:
    g, k = gate(), Keys("reco")
    batch = offers(["a", "b"])
    facts = [CustomerFacts(consent={"sms": True}), CustomerFacts(consent={})]
    decisions = decide_many(batch, facts, NOON, POLICY)
    keys, args = g._call(batch, decisions, [0, 1])
    oid_a, oid_b = decisions[0].offer_id, decisions[1].offer_id
    assert keys == [
        k.offer_decision("a", oid_a),
        k.offers_sent("a", "20240601"),
        k.offer_cooldown("a", "h1"),
        k.decisions("a"),
        k.decisions("b"),
    ]
    assert args == [
        *("r", oid_a, "price_drop", "h1", "sms", str(72 * 3600)),
        *("suppress", oid_b, "price_drop", "h1", "", "no_consent"),
    ]


def test_a_call_needs_room_for_one_offer() -> None:
    with pytest.raises(ValueError, match="max_per_call"):
        gate(max_per_call=0)
