"""Erasure of one customer from the online state (a deletion request, GDPR art. 17 / PIPL).

What goes: every key under the user's hash tag (profile, customer state, facts, caps,
cooldowns, offer decisions, decision log), the user's entries in the per-item watcher
indexes, the sweeps' due sets and the held offers, and the console's audit entries about
them. What stays is a record that the erasure happened, naming the user only by a salted
digest, and a tombstone on the `erasures` topic (key = the user id, no value) so that other
consumers (a warehouse, the push service) can act too.

Later events from the same pseudonymous id start a fresh profile with no consent. A batch a
worker had already read when the erasure ran could still write that user's state back, so
the API erases a second time after the workers' longest batch time (`erase_later`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from recommender import profile_codec
from recommender.engagement import codec
from recommender.engagement.codec import CustomerFormatError
from recommender.keys import Keys

log = logging.getLogger(__name__)
SCAN_COUNT = 1000
SECOND_PASS_S = 15.0  # longer than a worker's batch: fetch wait + apply + Redis retries


@dataclass(slots=True)
class ErasureReport:
    """What one erasure removed."""

    keys_deleted: int = 0
    index_entries: dict[str, int] = field(default_factory=dict)

    def add(self, index: str, n: int) -> None:
        """Count n entries removed from one kind of index."""
        if n:
            self.index_entries[index] = self.index_entries.get(index, 0) + n


def subject_digest(user_id: str, salt: str) -> str:
    """How the erasure record names the user: recognisable to whoever knows the id, and
    the salt, but not readable from the record itself."""
    return hashlib.sha256(f"{salt}\x1f{user_id}".encode()).hexdigest()[:32]


async def _scan(r: aioredis.Redis, pattern: str) -> list[bytes]:
    return [k async for k in r.scan_iter(match=pattern, count=SCAN_COUNT)]


async def erase(r: aioredis.Redis, keys: Keys, user_id: str) -> ErasureReport:
    """Remove everything the online state holds about `user_id` (idempotent)."""
    report = ErasureReport()
    uid = user_id.encode()
    watched: set[str] = set()
    blob = await r.get(keys.customer(user_id))
    if isinstance(blob, bytes):
        try:
            watched = set(codec.loads(blob).watched)
        except CustomerFormatError as exc:
            log.warning("erasure: unreadable customer state (%s); scanning all watchers", exc)
    # 1. Everything under the user's hash tag, one slot in Redis Cluster.
    own = await _scan(r, keys.user(user_id) + "*")
    if own:
        report.keys_deleted = int(await r.delete(*own))
    # 2. Watcher indexes: the items the state lists, and a scan for any it no longer lists
    #    (the state keeps a bounded list; the index may remember older views).
    for key in await _scan(r, keys.watchers("*")):
        if _watched_item(key.decode(), keys) in watched or await r.zscore(key, uid) is not None:
            report.add("watchers", int(await r.zrem(key, uid)))
            await r.hdel(key + b":p", uid)
    # 3. The sweeps' due sets.
    for key in await _scan(r, keys.due("*")):
        report.add("due", int(await r.zrem(key, uid)))
    # 4. Held offers: members are the worker's candidate blobs, a JSON list starting with
    #    the user id (streams/engage_offers.py candidate_blob).
    doomed = [
        m
        async for m, _ in r.zscan_iter(keys.held_offers(), count=SCAN_COUNT)
        if _held_by(m, user_id)
    ]
    if doomed:
        report.add("held_offers", int(await r.zrem(keys.held_offers(), *doomed)))
    # 5. Audit entries about the user (who looked at them): the fact of access is kept by
    #    the erasure record below, not the id.
    report.add("audit", await _drop_audit(r, keys.audit(), user_id))
    return report


def _watched_item(key: str, keys: Keys) -> str:
    """The item id of a watcher-index key (Keys.watchers)."""
    head, tail = keys.watchers("\x00").split("\x00")
    return key.removeprefix(head).removesuffix(tail)


def _held_by(member: bytes, user_id: str) -> bool:
    try:
        doc = orjson.loads(member)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, list) and bool(doc) and doc[0] == user_id


async def _drop_audit(r: aioredis.Redis, stream: str, user_id: str) -> int:
    dropped, start = 0, "-"
    while True:
        rows: list[tuple[bytes, dict[bytes, bytes]]] = await r.xrange(  # type: ignore[assignment]
            stream, min=start, count=SCAN_COUNT
        )
        if not rows:
            return dropped
        ids = [eid for eid, fields in rows if fields.get(b"subject") == user_id.encode()]
        if ids:
            dropped += int(await r.xdel(stream, *ids))
        start = "(" + rows[-1][0].decode()
        if len(rows) < SCAN_COUNT:
            return dropped


async def erase_later(
    r: aioredis.Redis,
    keys: Keys,
    user_id: str,
    erased_at: float,
    delay_s: float = SECOND_PASS_S,
) -> None:
    """Erase again once batches in flight at the first pass have been committed.

    Only state written back from before the erasure goes: a profile or customer state
    active after `erased_at` comes from new events, the fresh start the user is owed.
    """
    await asyncio.sleep(delay_s)
    try:
        if await _active_since(r, keys, user_id, erased_at):
            log.info("erasure second pass: new activity since the erasure, left alone")
            return
        report = await erase(r, keys, user_id)
    except (RedisError, OSError) as exc:  # logged, not raised: nobody awaits this task
        log.warning("erasure second pass failed: %s", exc)
        return
    if report.keys_deleted or report.index_entries:
        log.info("erasure second pass removed what in-flight batches wrote back")


async def _active_since(r: aioredis.Redis, keys: Keys, user_id: str, since: float) -> bool:
    profile, customer = await r.mget([keys.user(user_id), keys.customer(user_id)])
    last = 0.0
    if isinstance(profile, bytes):
        last = max(last, profile_codec.loads(profile).last_active)
    if isinstance(customer, bytes):
        with contextlib.suppress(CustomerFormatError):  # unreadable: judged by the profile
            last = max(last, codec.loads(customer).last_active)
    return last > since
