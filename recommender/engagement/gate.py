"""PushGate: the pure push policy, then one atomic Redis step per offer (gate.lua).

The script rejects an offer_id already decided, checks the user+item cooldown and the daily
cap of the user's local day, and records the decision, all atomically; so two workers that
decide the same offer, or two offers racing for the last slot of a cap, never both send.
A batch goes to Redis as one pipeline (one round trip); each script call touches one
user's keys only, which share a hash tag and so one Redis Cluster slot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import CustomerFacts, Decision, decide
from recommender.engagement.terms import SuppressReason
from recommender.keys import Keys

_GATE_LUA = resources.files("recommender.engagement").joinpath("gate.lua").read_text()
# A local day lasts at most 25 h (fall back); two days cover it wherever the user lives.
COUNTER_TTL_S = 2 * 86_400
DECISIONS_KEPT = 50  # per user, for the CRM console; trimmed approximately (cheap)
_REASONS: dict[str, SuppressReason] = {
    "duplicate": "duplicate",
    "cooldown": "cooldown",
    "cap": "cap",
}

# on_decision(kind, outcome, reason): the worker counts reco_offers_produced_total{kind}
# for 'send' and reco_offers_suppressed_total{kind,reason} for 'suppress'.
OnDecision = Callable[[str, str, str | None], None]


class PushGate:
    """Decides candidate offers and reserves the ones to send, atomically in Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        policy: EngagementPolicy,
        on_decision: OnDecision | None = None,
    ) -> None:
        self.r = client
        self.keys = keys
        self.policy = policy
        self.on_decision = on_decision
        self._sha: str | None = None

    async def decide_and_reserve(
        self, offer: Candidate, facts: CustomerFacts, *, now: float
    ) -> Decision:
        """Decide one offer; 'send' means it is reserved and must now be produced."""
        return (await self.decide_and_reserve_many([(offer, facts)], now=now))[0]

    async def decide_and_reserve_many(
        self, batch: Sequence[tuple[Candidate, CustomerFacts]], *, now: float
    ) -> list[Decision]:
        """Decide a batch in order; offers the policy lets through are reserved in one trip."""
        decisions = [decide(offer, facts, now, self.policy) for offer, facts in batch]
        todo = [i for i, d in enumerate(decisions) if d.outcome == "send"]
        if todo:
            answers = await self._reserve([(batch[i][0], decisions[i]) for i in todo], now)
            for i, reason in zip(todo, answers, strict=True):
                if reason is not None:
                    decisions[i] = replace(decisions[i], outcome="suppress", reason=reason)
        await self._log(batch, decisions, now)
        if self.on_decision is not None:
            for (offer, _), d in zip(batch, decisions, strict=True):
                self.on_decision(offer.kind, d.outcome, d.reason)
        return decisions

    async def _log(
        self,
        batch: Sequence[tuple[Candidate, CustomerFacts]],
        decisions: list[Decision],
        now: float,
    ) -> None:
        """Append each decision to its user's capped decision stream (one round trip)."""
        if not decisions:
            return
        pipe = self.r.pipeline(transaction=False)
        for (offer, _), d in zip(batch, decisions, strict=True):
            fields: dict[str, str] = {
                "offer_id": d.offer_id,
                "kind": offer.kind,
                "item": offer.item_key,
                "outcome": d.outcome,
                "reason": d.reason or "",
                "channel": d.channel or "",
                "at": repr(now),
            }
            pipe.xadd(
                self.keys.decisions(offer.user_id),
                fields,  # type: ignore[arg-type]
                maxlen=DECISIONS_KEPT,
                approximate=True,
            )
        await pipe.execute()

    async def _reserve(
        self, entries: list[tuple[Candidate, Decision]], now: float
    ) -> list[SuppressReason | None]:
        """Run the gate script for each entry (pipelined): None if sent, else the reason."""
        calls = [self._call(offer, d, now) for offer, d in entries]
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _attempt in range(2):
            if self._sha is None:
                self._sha = await self.r.script_load(_GATE_LUA)
            pipe = self.r.pipeline(transaction=False)
            for i in pending:
                keys, args = calls[i]
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            out = await pipe.execute(raise_on_error=False)
            retry = []
            for i, res in zip(pending, out, strict=True):
                if isinstance(res, NoScriptError):
                    retry.append(i)  # Redis restarted or flushed scripts: nothing ran
                elif isinstance(res, Exception):
                    raise res
                else:
                    results[i] = res
            if not retry:
                break
            self._sha, pending = None, retry
        else:
            raise NoScriptError("gate script vanished twice while reserving offers")
        return [_answer(r) for r in results]

    def _call(
        self, offer: Candidate, d: Decision, now: float
    ) -> tuple[list[str], list[str | int | float]]:
        k, p, u = self.keys, self.policy, offer.user_id
        keys = [
            k.offer_decision(u, d.offer_id),
            k.offers_sent(u, d.day_key),
            k.offer_cooldown(u, offer.item_key),
        ]
        args: list[str | int | float] = [
            math.ceil(p.dedupe_days * DAY_S),
            p.daily_cap,
            COUNTER_TTL_S,
            math.ceil(p.cooldown_s(offer.kind)),
            repr(now),
        ]
        return keys, args


def _answer(raw: object) -> SuppressReason | None:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if text == "sent":
        return None
    if text not in _REASONS:
        raise ValueError(f"gate script answered {text!r}")
    return _REASONS[text]
