"""PushGate against real Redis: racing gates send each offer once and never exceed a cap."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import COUNTER_TTL_S, PushGate
from recommender.engagement.offers import Candidate, candidate
from recommender.engagement.policy import CustomerFacts, Decision
from recommender.keys import Keys
from schemas import OfferItem

pytestmark = pytest.mark.integration

NOON = datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()  # outside quiet hours in UTC
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
FACTS = CustomerFacts(consent={"push": True}, timezone="UTC")
POLICY = EngagementPolicy(daily_cap=3)


def offer(user: str, item: str, window: float = NOON) -> Candidate:
    return candidate(user, "price_drop", item, window, [ITEM], now=NOON, policy=POLICY)


class Tally:
    """Counts on_decision calls, as the worker's Prometheus counters would."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str | None]] = Counter()

    def __call__(self, kind: str, outcome: str, reason: str | None) -> None:
        self.counts[(kind, outcome, reason)] += 1


@pytest.fixture
async def clients(namespace: dict[str, str]) -> AsyncIterator[list[aioredis.Redis]]:
    """Two independent clients (own connection pools), like two worker processes."""
    url = namespace["REDIS_URL"]
    # Blocking pools: hundreds of concurrent calls wait for one of 8 connections each.
    pools = [aioredis.BlockingConnectionPool.from_url(url, max_connections=8) for _ in range(2)]
    cs = [aioredis.Redis(connection_pool=p) for p in pools]
    yield cs
    for c, p in zip(cs, pools, strict=True):
        await c.aclose()
        await p.aclose()


def gates(
    clients: list[aioredis.Redis], namespace: dict[str, str], policy: EngagementPolicy = POLICY
) -> tuple[list[PushGate], Tally]:
    tally = Tally()
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    return [PushGate(c, keys, policy, on_decision=tally) for c in clients], tally


async def test_racing_gates_send_each_offer_once_and_respect_the_cap(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    (g1, g2), tally = gates(clients, namespace)
    users = [f"u{i}" for i in range(40)]
    offers = [offer(u, f"item{j}") for u in users for j in range(5)]  # 5 offers, cap 3
    rnd = random.Random(7)
    calls = []
    for gate in (g1, g2):
        for _ in range(2):  # each gate also sees every offer twice (redelivery)
            shuffled = offers[:]
            rnd.shuffle(shuffled)
            calls += [gate.decide_and_reserve(o, FACTS, now=NOON) for o in shuffled[:100]]
            batch = [(o, FACTS) for o in shuffled[100:]]
            calls.append(gate.decide_and_reserve_many(batch, now=NOON))
    rnd.shuffle(calls)
    results = await asyncio.gather(*calls)
    decisions: list[Decision] = []
    for r in results:
        decisions += r if isinstance(r, list) else [r]
    assert len(decisions) == 4 * len(offers)

    sent = Counter(d.offer_id for d in decisions if d.outcome == "send")
    assert all(n == 1 for n in sent.values())
    by_id = {o.offer_id: o for o in offers}
    per_user = Counter(by_id[i].user_id for i in sent)
    assert per_user == {u: 3 for u in users}
    reasons = Counter(d.reason for d in decisions if d.outcome == "suppress")
    assert set(reasons) <= {"duplicate", "cap"}
    # Each offer is decided once in Redis (sent or capped); every other sight is a duplicate.
    assert reasons["cap"] == 2 * len(users)
    assert reasons["duplicate"] == 3 * len(offers)
    assert tally.counts[("price_drop", "send", None)] == 3 * len(users)
    assert tally.counts[("price_drop", "suppress", "duplicate")] == 3 * len(offers)

    keys = Keys(namespace["RECO_KEY_PREFIX"])
    for u in users[:5]:
        assert int(await clients[0].get(keys.offers_sent(u, "20240601"))) == 3
        assert 0 < await clients[0].ttl(keys.offers_sent(u, "20240601")) <= COUNTER_TTL_S


async def test_two_offers_about_one_item_race_and_one_wins_the_cooldown(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    (g1, g2), _ = gates(clients, namespace, EngagementPolicy(daily_cap=100))
    # Two price drops of one item (two windows, two offer ids) for each user.
    pairs = [(offer(f"u{i}", "h1", NOON), offer(f"u{i}", "h1", NOON + 60)) for i in range(50)]
    calls = []
    for a, b in pairs:
        calls += [
            g1.decide_and_reserve(a, FACTS, now=NOON),
            g2.decide_and_reserve(b, FACTS, now=NOON),
        ]
    decisions = await asyncio.gather(*calls)
    for k in range(0, len(decisions), 2):
        outcomes = sorted((d.outcome, d.reason or "") for d in decisions[k : k + 2])
        assert outcomes == [("send", ""), ("suppress", "cooldown")]
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    ttl = await clients[0].ttl(keys.offer_cooldown("u0", "h1"))
    assert 72 * 3600 - 10 < ttl <= 72 * 3600
    ttl = await clients[0].ttl(keys.offer_decision("u0", pairs[0][0].offer_id))
    assert 7 * 86400 - 10 < ttl <= 7 * 86400


async def test_pure_suppressions_and_holds_reserve_nothing_but_are_logged(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    (g1, _), tally = gates(clients, namespace)
    night = datetime(2024, 6, 1, 23, tzinfo=UTC).timestamp()
    no_consent = CustomerFacts(consent={})
    decisions = await g1.decide_and_reserve_many(
        [(offer("a", "h1"), no_consent), (offer("b", "h1"), FACTS)], now=night
    )
    assert [(d.outcome, d.reason) for d in decisions] == [
        ("suppress", "no_consent"),
        ("hold", "quiet_hours"),
    ]
    assert decisions[1].hold_until == datetime(2024, 6, 2, 8, tzinfo=UTC).timestamp()
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    found = {k.decode() async for k in clients[0].scan_iter(keys.all_pattern())}
    assert found == {keys.decisions("a"), keys.decisions("b")}  # no counter, no reservation
    (_, logged), *_ = await clients[0].xrange(keys.decisions("a"))
    assert logged[b"outcome"] == b"suppress" and logged[b"reason"] == b"no_consent"
    assert float(logged[b"at"]) == night and logged[b"offer_id"] == decisions[0].offer_id.encode()
    assert tally.counts == {
        ("price_drop", "suppress", "no_consent"): 1,
        ("price_drop", "hold", "quiet_hours"): 1,
    }
    # The held offer, decided again in the morning, is sent.
    morning = decisions[1].hold_until
    assert morning is not None
    again = await g1.decide_and_reserve(offer("b", "h1"), FACTS, now=morning)
    assert again.outcome == "send" and again.offer_id == decisions[1].offer_id
    log_b = [f[b"outcome"] for _, f in await clients[0].xrange(keys.decisions("b"))]
    assert log_b == [b"hold", b"send"]


async def test_a_lost_script_cache_is_reloaded(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    (g1, _), _ = gates(clients, namespace)
    g1._sha = "0" * 40  # as if Redis had restarted and forgotten the script
    d = await g1.decide_and_reserve(offer("u1", "h1"), FACTS, now=NOON)
    assert d.outcome == "send"
    assert (await g1.decide_and_reserve(offer("u1", "h1"), FACTS, now=NOON)).reason == "duplicate"
