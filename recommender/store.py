"""Redis adapter for the online state: one pipelined read and one atomic write per batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from recommender.errors import ConflictError
from recommender.keys import Keys
from recommender.profile import Profile
from recommender.profile_codec import dumps, loads, version_bytes, version_of

TopicPartition = tuple[str, int]
POPULARITY_TTL_S = 8 * 86_400  # a week of days is read; one more day covers time zones
_COMMIT_LUA = resources.files("recommender").joinpath("commit.lua").read_text()


@dataclass(slots=True)
class StoredItem:
    """An item as stored: metadata (JSON object) and raw float32 vector bytes."""

    meta: dict[str, Any]
    vector: bytes | None


@dataclass(slots=True)
class Snapshot:
    """What one batch read: watermarks, profiles with their versions, items."""

    watermarks: dict[TopicPartition, int]
    profiles: dict[str, Profile]
    versions: dict[str, int]
    items: dict[str, StoredItem]


@dataclass(slots=True)
class WriteSet:
    """Everything one batch writes, applied atomically together with its watermarks."""

    watermarks: dict[TopicPartition, int] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    items: dict[str, StoredItem] = field(default_factory=dict)
    unknown_items: dict[str, int] = field(default_factory=dict)
    popularity: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


# A worker's batch commit may be a large script; its retry loop absorbs a timeout (the
# commit is idempotent by its watermark checks). The API wants an answer in milliseconds.
WORKER_TIMEOUT_S = 5.0
API_TIMEOUT_S = 0.5
CONNECT_TIMEOUT_S = 2.0


class RedisStore:
    """Profiles, catalog and offsets in Redis (key layout: REDIS_KEYS.md)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, group: str) -> None:
        self.r = client
        self.keys = keys
        self.group = group
        self._sha: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        keys: Keys,
        group: str,
        *,
        timeout_s: float = WORKER_TIMEOUT_S,
        **options: Any,
    ) -> RedisStore:
        """A store with its own connection pool; calls fail after `timeout_s` without answer.

        ``options`` are further redis-py connection arguments: AUTH and TLS, from
        ``recommender.redis_conn.redis_options``.

        Without a timeout, a Redis that stops answering (paused, partitioned) would hold a
        call for as long as TCP keeps the connection, instead of letting the caller retry
        or degrade.
        """
        client = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=timeout_s,
            socket_connect_timeout=min(timeout_s, CONNECT_TIMEOUT_S),
            **options,
        )
        return cls(client, keys, group)

    async def close(self) -> None:
        """Release the connection pool."""
        await self.r.aclose()

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self.r.ping())

    def _wm_key(self, tp: TopicPartition) -> str:
        return self.keys.offsets(self.group, tp[0], tp[1])

    async def load(
        self,
        partitions: Iterable[TopicPartition],
        user_ids: Iterable[str],
        item_ids: Iterable[str],
    ) -> Snapshot:
        """Read watermarks, profiles and items in one round trip."""
        tps = list(partitions)
        users = list(user_ids)
        items = list(item_ids)
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        for tp in tps:
            pipe.get(self._wm_key(tp))
        if users:
            pipe.mget([k.user(u) for u in users])
        if items:
            pipe.mget([k.item(i) for i in items])
            pipe.mget([k.item_vector(i) for i in items])
        res = await pipe.execute()
        wms = {tp: int(v) if v is not None else -1 for tp, v in zip(tps, res, strict=False)}
        profiles: dict[str, Profile] = {}
        versions: dict[str, int] = {}
        if users:
            for u, blob in zip(users, res[len(tps)], strict=True):
                if blob is not None:
                    versions[u] = version_of(blob)
                    profiles[u] = loads(blob)
        stored: dict[str, StoredItem] = {}
        if items:
            metas, vecs = res[-2], res[-1]
            for i, meta, vec in zip(items, metas, vecs, strict=True):
                if meta is not None:
                    stored[i] = StoredItem(orjson.loads(meta), vec)
        return Snapshot(wms, profiles, versions, stored)

    async def commit(self, snap: Snapshot, w: WriteSet, *, now: float) -> None:
        """Apply a batch atomically if nobody moved its watermarks or profiles since load.

        Raises ConflictError when another writer got there first; the caller reloads and
        applies again (events below the new watermarks are then skipped).
        """
        k = self.keys
        argv: list[str | bytes | int | float] = [len(w.watermarks)]
        for tp, off in w.watermarks.items():
            old = snap.watermarks.get(tp, -1)
            argv += [self._wm_key(tp), "" if old < 0 else str(old), off]
        argv.append(len(w.profiles))
        for u, prof in w.profiles.items():
            old_ver = snap.versions.get(u)
            expected = b"" if old_ver is None else version_bytes(old_ver)
            argv += [k.user(u), expected, dumps(prof, (old_ver or 0) + 1)]
        ops: list[Sequence[str | bytes | int | float]] = []
        for i, item in w.items.items():
            ops.append(("SET", k.item(i), orjson.dumps(item.meta)))
            if item.vector is not None:
                ops.append(("SET", k.item_vector(i), item.vector))
            ops.append(("SADD", k.items(), i))
            active = "1" if item.meta.get("active", True) else "0"
            ops.append(
                ("XADD", k.catalog_log(), "MAXLEN", "~", 100_000, "*", "item", i, "active", active)
            )
        for (day, market), scores in w.popularity.items():
            key = k.popularity(day, market)
            packed = "\n".join(f"{score!r}\t{item_id}" for item_id, score in scores.items())
            ops.append(("ZINCRMANY", key, packed))
            ops.append(("EXPIRE", key, POPULARITY_TTL_S))
        for i, n in w.unknown_items.items():
            ops.append(("HINCRBY", k.unknown_items(), i, n))
        for name, n in w.stats.items():
            ops.append(("HINCRBY", k.stats(), name, n))
        if ops:
            ops.append(("HSET", k.stats(), "last_commit_ts", now))
        for op in ops:
            argv.append(len(op))
            argv.extend(op)
        result = await self._eval(argv)
        if int(result[0]) != 1:
            raise ConflictError(f"concurrent write on {result[1]!r}")

    async def _eval(self, argv: list[str | bytes | int | float]) -> list[Any]:
        if self._sha is None:
            self._sha = await self.r.script_load(_COMMIT_LUA)
        try:
            res = await self.r.evalsha(self._sha, 0, *argv)
        except NoScriptError:  # Redis restarted or flushed its script cache
            self._sha = await self.r.script_load(_COMMIT_LUA)
            res = await self.r.evalsha(self._sha, 0, *argv)
        return list(res)

    async def read_user(self, user_id: str) -> tuple[Profile | None, bytes | None]:
        """A user's profile and customer-state blob, in one round trip (one hash slot)."""
        blob, customer = await self.r.mget([self.keys.user(user_id), self.keys.customer(user_id)])
        profile = loads(blob) if isinstance(blob, bytes) else None
        return profile, customer if isinstance(customer, bytes) else None

    async def read_profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Profiles of the given users that exist (one round trip)."""
        if not user_ids:
            return {}
        blobs = await self.r.mget([self.keys.user(u) for u in user_ids])
        return {u: loads(b) for u, b in zip(user_ids, blobs, strict=True) if isinstance(b, bytes)}
