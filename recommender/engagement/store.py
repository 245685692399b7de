"""Redis adapter of the engagement side: customer states, facts, watchers, due sets, holds.

Reads are one pipeline per step; a batch's writes are one atomic script (commit.lua beside
this file) that first checks the offset watermarks and the customer states it read, so a
zombie worker or a concurrent sweep makes the batch reload instead of overwriting. Sweeps
commit the same script once per user (``commit_each``): their users are unrelated, so a
user busy with events conflicts alone. Key layout: recommender/REDIS_KEYS.md.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import hiredis
import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError
from redis.typing import EncodableT, FieldT

from recommender.engagement import codec
from recommender.engagement.policy import CustomerFacts
from recommender.engagement.state import CustomerState
from recommender.errors import ConflictError
from recommender.keys import Keys
from recommender.profile import Profile
from recommender.profile_codec import loads as load_profile

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
Op = tuple[str | bytes | int | float, ...]  # a Redis command and its arguments
_COMMIT_LUA = resources.files("recommender.engagement").joinpath("commit.lua").read_text()
# Compare-and-delete: a sweep releases its lock only while it still owns it.
_UNLOCK_LUA = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
# Take a sweep lock, or keep it when this token holds it already: a sweep retried after a
# lost reply (Redis ran the SET, the answer never came) must not be locked out by itself.
_LOCK_LUA = (
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0"
)
_MGET_CHUNK = 5000


def digest(blob: bytes | None) -> str:
    """SHA-1 hex of a stored blob ('' for none), as commit.lua computes it."""
    return "" if blob is None else hashlib.sha1(blob).hexdigest()


def facts_blob(s: CustomerState) -> bytes:
    """The compact facts record of a customer: what the push policy needs, nothing more."""
    consent = {ch: [ok, ts] for ch, (ok, ts) in sorted(s.consent.items())}
    return orjson.dumps({"c": consent, "tz": s.timezone, "cu": s.complaint_until})


def consent_as_of(consent: Mapping[str, tuple[bool, float]], now: float | None) -> dict[str, bool]:
    """Channel -> consent at ``now``: a decision newer than ``now`` (applied early, e.g. by
    another consumer group that ran ahead) does not count, so a grant cannot be used before
    it was given. None: the latest decisions as they are."""
    return {ch: ok and (now is None or ts <= now) for ch, (ok, ts) in consent.items()}


def facts_as_of(s: CustomerState, now: float | None) -> CustomerFacts:
    """The push policy's facts of a customer state for a decision at ``now``."""
    return CustomerFacts(consent_as_of(s.consent, now), s.timezone, s.complaint_until)


def facts_from_blob(blob: bytes | None, now: float | None = None) -> CustomerFacts:
    """Facts from a stored record as of ``now``; a missing or unreadable one consents to
    nothing."""
    if blob is None:
        return CustomerFacts(consent={})
    try:
        d = orjson.loads(blob)
        consent = {str(ch): (bool(v[0]), float(v[1])) for ch, v in d.get("c", {}).items()}
        return CustomerFacts(consent_as_of(consent, now), d.get("tz"), float(d.get("cu", 0.0)))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError):
        return CustomerFacts(consent={})


@dataclass(slots=True)
class StateSnapshot:
    """What a batch read: watermarks, customer states and the digests to check on commit."""

    watermarks: dict[TopicPartition, int] = field(default_factory=dict)
    states: dict[str, CustomerState] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # every user asked for


@dataclass(frozen=True, slots=True)
class WatcherRow:
    """One watcher of an item as indexed: when they looked, and the price they saw."""

    user_id: str
    seen_at: float
    price: float | None


class PackedConnection(aioredis.Connection):
    """A connection that packs commands with hiredis.

    redis-py's asyncio connection packs in Python, ~15 µs per command; a price drop to
    100,000 watchers makes 100,000 gate script calls, where that alone would cost 1.5 s.
    """

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        """The command in the Redis protocol, as one buffer."""
        head = args[0]
        if isinstance(head, str | bytes) and (
            " " in head if isinstance(head, str) else b" " in head
        ):
            return super().pack_command(*args)  # 'CONFIG GET'-style names are split there
        return [hiredis.pack_command(args)]  # type: ignore[arg-type]


class EngageStore:
    """Customer states and the indexes the triggers read, in Redis."""

    def __init__(self, client: aioredis.Redis, keys: Keys, group: str = "engage") -> None:
        self.r = client
        self.keys = keys
        self.group = group
        self._sha: str | None = None
        # Facts records repeat (a few consent sets and zones): parse each distinct one once.
        self._facts: dict[tuple[bytes | None, float | None], CustomerFacts] = {}

    @classmethod
    def from_url(cls, url: str, keys: Keys, group: str = "engage", **options: Any) -> EngageStore:
        """A store with its own connection pool (plain TCP connections pack with hiredis);
        ``options``: AUTH and TLS arguments (``recommender.redis_conn.redis_options``)."""
        pool = aioredis.ConnectionPool.from_url(url, decode_responses=False, **options)
        if pool.connection_class is aioredis.Connection:
            pool.connection_class = PackedConnection
        return cls(aioredis.Redis.from_pool(pool), keys, group)  # owns the pool

    async def close(self) -> None:
        """Release the connection pool."""
        await self.r.aclose()

    # --- customer states -------------------------------------------------------------------

    async def load_states(
        self, partitions: Iterable[TopicPartition], user_ids: Iterable[str]
    ) -> StateSnapshot:
        """Watermarks of the partitions and the users' customer states, in one round trip."""
        tps, users = list(partitions), list(user_ids)
        pipe = self.r.pipeline(transaction=False)
        for tp in tps:
            pipe.get(self.keys.offsets(self.group, tp[0], tp[1]))
        if users:
            pipe.mget([self.keys.customer(u) for u in users])
        res = await pipe.execute()
        snap = StateSnapshot()
        snap.watermarks = {tp: -1 if v is None else int(v) for tp, v in zip(tps, res, strict=False)}
        if users:
            for u, blob in zip(users, res[len(tps)], strict=True):
                snap.digests[u] = digest(blob)
                if blob is not None:
                    snap.states[u] = _state(u, blob)
        return snap

    async def commit(
        self,
        snap: StateSnapshot,
        states: Mapping[str, CustomerState],
        watermarks: Mapping[TopicPartition, int],
        ops: Sequence[Op] = (),
    ) -> None:
        """Write states, watermarks and ops atomically, or raise ConflictError (nothing written).

        Every state written must have been read into ``snap``: its digest is the check.
        """
        result = await self._eval(self._argv(snap, states, watermarks, ops))
        if int(result[0]) != 1:
            raise ConflictError(f"concurrent write on {result[1]!r}")

    async def commit_each(
        self,
        snap: StateSnapshot,
        writes: Mapping[str, tuple[CustomerState | None, Sequence[Op]]],
        *,
        reload: bool = True,
    ) -> list[str]:
        """Per user, atomically for that user alone: check that the state read into ``snap``
        is still the stored one, then write the new state (None: keep it, only check) and the
        user's ops. One pipeline for all; returns the users whose check failed (nothing of
        theirs written), so one busy user never holds back the others' commits."""
        argvs = {u: self._argv(snap, {u: s}, {}, ops) for u, (s, ops) in writes.items()}
        if self._sha is None:
            self._sha = await self.r.script_load(_COMMIT_LUA)
        pipe = self.r.pipeline(transaction=False)
        for argv in argvs.values():
            pipe.evalsha(self._sha, 0, *argv)
        results = await pipe.execute(raise_on_error=False)
        conflicts: list[str] = []
        again: dict[str, tuple[CustomerState | None, Sequence[Op]]] = {}
        for u, res in zip(argvs, results, strict=True):
            if isinstance(res, NoScriptError) and reload:  # Redis restarted or flushed scripts
                again[u] = writes[u]
            elif isinstance(res, Exception):
                raise res
            elif int(res[0]) != 1:
                conflicts.append(u)
        if again:
            self._sha = None
            conflicts += await self.commit_each(snap, again, reload=False)
        return conflicts

    def _argv(
        self,
        snap: StateSnapshot,
        states: Mapping[str, CustomerState | None],
        watermarks: Mapping[TopicPartition, int],
        ops: Sequence[Op],
    ) -> list[str | bytes | int | float]:
        """commit.lua's arguments; a state of None is only checked (also when it was missing)."""
        argv: list[str | bytes | int | float] = [len(watermarks)]
        for tp, off in watermarks.items():
            old = snap.watermarks.get(tp, -1)
            argv += [self.keys.offsets(self.group, tp[0], tp[1]), "" if old < 0 else old, off]
        argv.append(len(states))
        for u, s in states.items():
            blob = b"" if s is None else codec.dumps(s)
            argv += [self.keys.customer(u), snap.digests.get(u, ""), blob]
        for op in ops:
            argv.append(len(op))
            argv.extend(op)
        return argv

    async def _eval(self, argv: list[str | bytes | int | float]) -> list[Any]:
        if self._sha is None:
            self._sha = await self.r.script_load(_COMMIT_LUA)
        try:
            res = await self.r.evalsha(self._sha, 0, *argv)
        except NoScriptError:  # Redis restarted or flushed its script cache
            self._sha = await self.r.script_load(_COMMIT_LUA)
            res = await self.r.evalsha(self._sha, 0, *argv)
        return list(res)

    async def write(self, ops: Sequence[Op]) -> None:
        """Apply ops that need no check (idempotent index upkeep), pipelined."""
        if not ops:
            return
        pipe = self.r.pipeline(transaction=False)
        for op in ops:
            pipe.execute_command(*op)
        await pipe.execute()

    async def facts(self, user_ids: Sequence[str], now: float | None = None) -> list[CustomerFacts]:
        """Facts of each user as of ``now``, in order (MGET in chunks)."""
        out: list[CustomerFacts] = []
        memo = self._facts
        for i in range(0, len(user_ids), _MGET_CHUNK):
            chunk = user_ids[i : i + _MGET_CHUNK]
            blobs = await self.r.mget([self.keys.customer_facts(u) for u in chunk])
            for raw in blobs:
                b = _bytes(raw)
                f = memo.get((b, now))
                if f is None:
                    f = facts_from_blob(b, now)
                    if len(memo) > 10_000:
                        memo.clear()
                    memo[(b, now)] = f
                out.append(f)
        return out

    async def profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Profiles of the users that have one (written by ingest)."""
        if not user_ids:
            return {}
        blobs = await self.r.mget([self.keys.user(u) for u in user_ids])
        return {
            u: load_profile(b) for u, b in zip(user_ids, blobs, strict=True) if isinstance(b, bytes)
        }

    # --- items and price drops --------------------------------------------------------------

    async def item_metas(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Catalog metadata of the items that exist."""
        if not item_ids:
            return {}
        blobs = await self.r.mget([self.keys.item(i) for i in item_ids])
        return {i: orjson.loads(b) for i, b in zip(item_ids, blobs, strict=True) if b is not None}

    async def last_prices(self, item_ids: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Item -> (price, ts) of its last price update seen."""
        if not item_ids:
            return {}
        blobs = await self.r.mget([self.keys.item_price(i) for i in item_ids])
        out = {}
        for i, b in zip(item_ids, blobs, strict=True):
            if b is not None:
                price, ts = orjson.loads(b)
                out[i] = (float(price), float(ts))
        return out

    async def max_seen_prices(self, item_ids: Sequence[str]) -> dict[str, float]:
        """Item -> the highest price its watchers were indexed with, for items that have one
        (one pipeline of ZSCOREs)."""
        if not item_ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for i in item_ids:
            pipe.zscore(self.keys.watcher_max_price(i), "max")
        scores = await pipe.execute()
        return {i: float(v) for i, v in zip(item_ids, scores, strict=True) if v is not None}

    async def watchers(self, item_id: str, since: float) -> list[WatcherRow]:
        """Watchers of an item seen at or after ``since`` (one round trip)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrangebyscore(self.keys.watchers(item_id), since, "+inf", withscores=True)
        pipe.hgetall(self.keys.watcher_prices(item_id))
        rows, prices = await pipe.execute()
        return [WatcherRow(u.decode(), float(ts), _float(prices.get(u))) for u, ts in rows]

    async def stale_watchers(self, item_id: str, before: float) -> list[str]:
        """Watchers whose last look is older than ``before`` (to be dropped)."""
        rows = await self.r.zrangebyscore(self.keys.watchers(item_id), "-inf", f"({before!r}")
        return [_text(u) for u in rows]

    async def put_watchers(self, item_id: str, rows: Sequence[WatcherRow], ttl_s: int) -> None:
        """Index watchers directly (benchmarks and tests; the stream derives them from states)."""
        for i in range(0, len(rows), _MGET_CHUNK):
            chunk = rows[i : i + _MGET_CHUNK]
            pipe = self.r.pipeline(transaction=False)
            pipe.zadd(self.keys.watchers(item_id), {w.user_id: w.seen_at for w in chunk})
            priced: dict[FieldT, EncodableT] = {
                w.user_id: repr(w.price) for w in chunk if w.price is not None
            }
            if priced:
                pipe.hset(self.keys.watcher_prices(item_id), mapping=priced)
            await pipe.execute()
        await self.r.expire(self.keys.watchers(item_id), ttl_s)
        await self.r.expire(self.keys.watcher_prices(item_id), ttl_s)

    async def put_facts(self, states: Mapping[str, CustomerState]) -> None:
        """Write facts records directly (benchmarks and tests)."""
        items = list(states.items())
        for i in range(0, len(items), _MGET_CHUNK):
            await self.r.mset(
                {self.keys.customer_facts(u): facts_blob(s) for u, s in items[i : i + _MGET_CHUNK]}
            )

    async def popular(
        self, market: str, days: Sequence[str], n: int
    ) -> list[list[tuple[str, float]]]:
        """Top-n rows of the market's popularity set for each day, in the order given."""
        pipe = self.r.pipeline(transaction=False)
        for day in days:
            pipe.zrevrange(self.keys.popularity(day, market), 0, n - 1, withscores=True)
        rows = await pipe.execute()
        return [[(m.decode(), float(s)) for m, s in day_rows] for day_rows in rows]

    # --- sweeps -----------------------------------------------------------------------------

    async def due(self, kind: str, now: float, limit: int) -> list[str]:
        """Users whose entry in the due set of ``kind`` is at or before ``now``."""
        rows = await self.r.zrangebyscore(self.keys.due(kind), "-inf", now, start=0, num=limit)
        return [_text(u) for u in rows]

    async def held(self, now: float, limit: int) -> list[bytes]:
        """Held offers whose hold has ended at ``now`` (serialised candidates)."""
        rows = await self.r.zrangebyscore(self.keys.held_offers(), "-inf", now, start=0, num=limit)
        return [m if isinstance(m, bytes) else str(m).encode() for m in rows]

    async def lock(self, kind: str, token: str, ttl_s: float) -> bool:
        """Take the sweep lock of ``kind`` unless another worker holds it (a token that
        holds it already keeps it, for ``ttl_s`` from now)."""
        ok = await self.r.eval(_LOCK_LUA, 1, self.keys.sweep_lock(kind), token, int(ttl_s * 1000))
        return bool(ok)

    async def unlock(self, kind: str, token: str) -> None:
        """Release the sweep lock if this token still holds it."""
        await self.r.eval(_UNLOCK_LUA, 1, self.keys.sweep_lock(kind), token)


def _state(user_id: str, blob: bytes) -> CustomerState:
    try:
        return codec.loads(blob)
    except codec.CustomerFormatError as exc:
        # Starting over loses the ledger of one user; stopping the worker would stop everyone.
        log.error("customer state of %s unreadable (%s); starting from empty", user_id, exc)
        return CustomerState()


def _bytes(raw: object) -> bytes | None:
    return raw if isinstance(raw, bytes) or raw is None else str(raw).encode()


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _float(raw: object) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
