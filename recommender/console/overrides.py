"""Runtime overrides of the engagement policy, set by admins in the console.

Stored in one Redis hash (``Keys.policy_overrides()``): ``kind:<offer kind>`` -> ``off``
(kill switch: never send this kind) or ``on`` (send it even if the configuration disables
it). ``effective_policy`` is pure, so the worker's gate and the console's policy page
agree on what a set of overrides means.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.terms import OFFER_KINDS, OfferKind
from recommender.keys import Keys

log = logging.getLogger(__name__)
Switch = Literal["on", "off"]
_KIND_FIELD = "kind:"


@dataclass(frozen=True, slots=True)
class PolicyOverrides:
    """Offer kind -> True (sent) or False (killed); kinds not listed follow the config."""

    kinds: Mapping[OfferKind, bool] = field(default_factory=dict)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_overrides(raw: Mapping[Any, Any]) -> PolicyOverrides:
    """Overrides from the hash as HGETALL returns it; unknown fields are ignored (pure)."""
    kinds: dict[OfferKind, bool] = {}
    by_name: dict[str, OfferKind] = {k: k for k in OFFER_KINDS}
    for k, v in raw.items():
        name, value = _text(k), _text(v)
        kind = by_name.get(name.removeprefix(_KIND_FIELD)) if name.startswith(_KIND_FIELD) else None
        if kind is None or value not in ("on", "off"):
            log.warning("ignoring unknown policy override %s=%s", name, value)
            continue
        kinds[kind] = value == "on"
    return PolicyOverrides(kinds)


def effective_policy(policy: EngagementPolicy, overrides: PolicyOverrides) -> EngagementPolicy:
    """The configured policy with the overrides applied (the same object when none change it)."""
    disabled = set(policy.disabled_kinds)
    for kind, enabled in overrides.kinds.items():
        if enabled:
            disabled.discard(kind)
        else:
            disabled.add(kind)
    if disabled == set(policy.disabled_kinds):
        return policy
    return policy.model_copy(update={"disabled_kinds": frozenset(disabled)})


async def read_overrides(r: aioredis.Redis, keys: Keys) -> PolicyOverrides:
    """The overrides currently stored (one HGETALL)."""
    raw: Any = await r.hgetall(keys.policy_overrides())
    return parse_overrides(raw)


async def set_kind(r: aioredis.Redis, keys: Keys, kind: OfferKind, switch: Switch | None) -> None:
    """Force a kind on or off, or (None) return it to the configured behaviour."""
    if switch is None:
        await r.hdel(keys.policy_overrides(), _KIND_FIELD + kind)
    else:
        await r.hset(keys.policy_overrides(), _KIND_FIELD + kind, switch)
