"""PushGate against real Redis: racing gates send each offer once and never exceed a cap.

Every semantic is checked with script calls grouped by Cluster slot (the default) and with
whole batches per call, each with call sizes that split batches and users across calls.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import COUNTER_TTL_S, Grouping, PushGate
from recommender.engagement.offers import Candidate, candidate
from recommender.engagement.policy import CustomerFacts, Decision
from recommender.keys import Keys
from schemas import OfferItem

pytestmark = pytest.mark.integration

NOON = datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()  # outside quiet hours in UTC
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
FACTS = CustomerFacts(consent={"push": True}, timezone="UTC")
POLICY = EngagementPolicy(daily_cap=3)
MODES: list[tuple[Grouping, int]] = [("slot", 128), ("slot", 2), ("batch", 128), ("batch", 7)]


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


@pytest.fixture(params=MODES, ids=[f"{g}-{n}" for g, n in MODES])
def mode(request: pytest.FixtureRequest) -> tuple[Grouping, int]:
    """How the gates group offers into script calls, and the most offers per call."""
    return request.param  # type: ignore[no-any-return]


def gates(
    clients: list[aioredis.Redis],
    namespace: dict[str, str],
    policy: EngagementPolicy = POLICY,
    mode: tuple[Grouping, int] = ("slot", 128),
) -> tuple[list[PushGate], Tally]:
    tally = Tally()
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    grouping, per_call = mode
    return [
        PushGate(c, keys, policy, on_decision=tally, grouping=grouping, max_per_call=per_call)
        for c in clients
    ], tally


async def test_racing_gates_send_each_offer_once_and_respect_the_cap(
    clients: list[aioredis.Redis], namespace: dict[str, str], mode: tuple[Grouping, int]
) -> None:
    (g1, g2), tally = gates(clients, namespace, mode=mode)
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
    clients: list[aioredis.Redis], namespace: dict[str, str], mode: tuple[Grouping, int]
) -> None:
    (g1, g2), _ = gates(clients, namespace, EngagementPolicy(daily_cap=100), mode)
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


async def test_the_cooldown_runs_on_decision_time_not_on_the_keys_ttl(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    # Decisions use event time; a replayed week passes in minutes of wall time, so the
    # cooldown must end when the decision times say so, not when the key expires.
    (g1, _), _ = gates(clients, namespace, EngagementPolicy(daily_cap=100))
    hour = 3600.0
    first = await g1.decide_and_reserve(offer("u1", "h1", NOON), FACTS, now=NOON)
    inside = await g1.decide_and_reserve(
        offer("u1", "h1", NOON + hour), FACTS, now=NOON + 71 * hour
    )
    after = await g1.decide_and_reserve(
        offer("u1", "h1", NOON + 2 * hour), FACTS, now=NOON + 73 * hour
    )
    assert [(d.outcome, d.reason) for d in (first, inside, after)] == [
        ("send", None),
        ("suppress", "cooldown"),
        ("send", None),
    ]


async def test_pure_suppressions_and_holds_reserve_nothing_but_are_logged(
    clients: list[aioredis.Redis], namespace: dict[str, str], mode: tuple[Grouping, int]
) -> None:
    (g1, _), tally = gates(clients, namespace, mode=mode)
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


async def test_one_batch_mixes_sends_holds_and_suppressions_and_logs_them_in_order(
    clients: list[aioredis.Redis], namespace: dict[str, str], mode: tuple[Grouping, int]
) -> None:
    (g1, _), tally = gates(clients, namespace, mode=mode)
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    # At NOON (12:00 UTC) it is 21:00 in Tokyo, 08:00 in New York and 22:00 in Vladivostok.
    tokyo = CustomerFacts(consent={"sms": True}, timezone="Asia/Tokyo")
    new_york = CustomerFacts(consent={"push": True}, timezone="America/New_York")
    sleeping = CustomerFacts(consent={"push": True}, timezone="Asia/Vladivostok")
    batch = [
        (offer("a", "h1"), tokyo),
        (offer("a", "h2"), tokyo),
        (offer("a", "h1"), tokyo),  # the same offer again in the same batch: a duplicate
        (offer("b", "h1"), CustomerFacts(consent={})),
        (offer("a", "h3"), tokyo),
        (offer("a", "h4"), tokyo),  # a's fourth send of the day: over the cap of 3
        (offer("c", "h1"), sleeping),
        (offer("d", "h1"), new_york),
    ]
    decisions = await g1.decide_and_reserve_many(batch, now=NOON)
    assert [(d.outcome, d.reason, d.channel) for d in decisions] == [
        ("send", None, "sms"),
        ("send", None, "sms"),
        ("suppress", "duplicate", "sms"),
        ("suppress", "no_consent", None),
        ("send", None, "sms"),
        ("suppress", "cap", "sms"),
        ("hold", "quiet_hours", "push"),
        ("send", None, "push"),
    ]
    assert decisions[0].day_key == "20240601" and decisions[6].day_key == "20240601"
    assert int(await clients[0].get(keys.offers_sent("a", "20240601"))) == 3
    assert await clients[0].get(keys.offer_decision("a", decisions[5].offer_id)) == b"cap"
    assert not await clients[0].exists(keys.offer_cooldown("a", "h4"))
    assert not await clients[0].exists(keys.offer_decision("c", decisions[6].offer_id))
    logged = [f for _, f in await clients[0].xrange(keys.decisions("a"))]
    assert [(f[b"item"], f[b"outcome"], f[b"reason"]) for f in logged] == [
        (b"h1", b"send", b""),
        (b"h2", b"send", b""),
        (b"h1", b"suppress", b"duplicate"),
        (b"h3", b"send", b""),
        (b"h4", b"suppress", b"cap"),
    ]
    assert all(f[b"channel"] == b"sms" and f[b"kind"] == b"price_drop" for f in logged)
    assert [f[b"offer_id"] for f in logged] == [
        decisions[i].offer_id.encode() for i in (0, 1, 2, 4, 5)
    ]
    (_, held), *_ = await clients[0].xrange(keys.decisions("c"))
    assert (held[b"outcome"], held[b"reason"], held[b"channel"]) == (
        b"hold",
        b"quiet_hours",
        b"push",
    )
    assert tally.counts == {
        ("price_drop", "send", None): 4,
        ("price_drop", "suppress", "duplicate"): 1,
        ("price_drop", "suppress", "no_consent"): 1,
        ("price_drop", "suppress", "cap"): 1,
        ("price_drop", "hold", "quiet_hours"): 1,
    }


async def test_the_decision_log_stays_capped(
    clients: list[aioredis.Redis], namespace: dict[str, str]
) -> None:
    (g1, _), _ = gates(clients, namespace, EngagementPolicy(daily_cap=1000))
    batch = [(offer("u1", f"item{i}"), FACTS) for i in range(400)]
    decisions = await g1.decide_and_reserve_many(batch, now=NOON)
    assert all(d.outcome == "send" for d in decisions)
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    assert 50 <= await clients[0].xlen(keys.decisions("u1")) < 400
