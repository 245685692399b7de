"""The API's view of the catalog: item metadata and the FAISS index, kept in step with Redis.

At start it reads every item from Redis (or a snapshot, then only the changes), then follows
the catalog change stream (``reco:catalog:log``) that the worker appends to in the same atomic
commit as the item itself, so a re-priced or deactivated item reaches every API replica
within one poll.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from recommender.index import IndexParams, ItemIndex
from recommender.ranking import ItemMeta
from recommender.store import RedisStore

log = logging.getLogger(__name__)
_CHUNK = 5_000
_MAX_BLOCK_MS = 1000


def item_meta(raw: dict[str, Any]) -> ItemMeta:
    """ItemMeta from the stored JSON (REDIS_KEYS.md).

    Type, destination and band are interned: a JSON parser makes a new string for every
    item, so a million items held a million copies of "hotel" scattered over the heap, and
    ranking's lookups on them missed the CPU cache. Shared strings stay cached (and the
    copies cost memory).
    """
    band = raw.get("band")
    return ItemMeta(
        item_id=str(raw["item_id"]),
        item_type=sys.intern(str(raw.get("item_type") or "")),
        destination=sys.intern(str(raw.get("destination") or "")),
        price_base=raw.get("price_base"),
        band=sys.intern(band) if isinstance(band, str) else band,
        stars=raw.get("stars"),
        title=raw.get("title"),
        active=bool(raw.get("active", True)),
    )


class CatalogView:
    """Item metadata by id plus an ItemIndex over the active items with a vector."""

    def __init__(self, store: RedisStore, dim: int, params: IndexParams | None = None) -> None:
        self.store = store
        self.dim = dim
        self.params = params
        self.items: dict[str, ItemMeta] = {}
        self.index = ItemIndex(dim, params)
        self.loaded = False
        self.last_id = "0-0"

    async def _fetch(self, ids: Sequence[str]) -> tuple[list[ItemMeta], list[bytes | None]]:
        k = self.store.keys
        pipe = self.store.r.pipeline(transaction=False)
        pipe.mget([k.item(i) for i in ids])
        pipe.mget([k.item_vector(i) for i in ids])
        metas, vecs = await pipe.execute()
        out_m: list[ItemMeta] = []
        out_v: list[bytes | None] = []
        for raw, vec in zip(metas, vecs, strict=True):
            if raw is not None:
                out_m.append(item_meta(orjson.loads(raw)))
                out_v.append(vec)
        return out_m, out_v

    def _vectors(
        self, metas: Sequence[ItemMeta], vecs: Sequence[bytes | None]
    ) -> tuple[list[str], Any]:
        """Ids and rows of the items that belong in the index: active, with a vector."""
        ids: list[str] = []
        rows: list[bytes] = []
        for m, v in zip(metas, vecs, strict=True):
            if m.active and v is not None and len(v) == 4 * self.dim:
                ids.append(m.item_id)
                rows.append(v)
        if not rows:
            return ids, np.zeros((0, self.dim), np.float32)
        return ids, np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), self.dim)

    async def load(self) -> None:
        """Read the whole catalog and build the index (off the event loop)."""
        started = time.perf_counter()
        k = self.store.keys
        # Remember where the change log stands first: changes made during the load replay.
        tail: Any = await self.store.r.xrevrange(k.catalog_log(), count=1)
        self.last_id = tail[0][0].decode() if tail else "0-0"
        all_ids = [i.decode() async for i in self.store.r.sscan_iter(k.items(), count=_CHUNK)]
        metas: list[ItemMeta] = []
        vecs: list[bytes | None] = []
        for start in range(0, len(all_ids), _CHUNK):
            m, v = await self._fetch(all_ids[start : start + _CHUNK])
            metas += m
            vecs += v
        ids, matrix = self._vectors(metas, vecs)
        self.index = await asyncio.to_thread(ItemIndex.build, ids, matrix, self.params)
        self.items = {m.item_id: m for m in metas}
        self.loaded = True
        log.info(
            "catalog loaded: %d items, %d indexed (%s) in %.1f s",
            len(self.items),
            self.index.size,
            self.index.structure,
            time.perf_counter() - started,
        )

    def _block_ms(self) -> int:
        """How long one poll may wait for changes: well inside the client's socket timeout.

        A blocking XREAD that outlasts the socket timeout (the API's is 0.5 s) ends in a
        TimeoutError instead of an empty answer: the follower then logged a traceback,
        dropped the connection and slept a second on every idle poll, which delayed changes
        and cost the serving process CPU at random moments.
        """
        timeout = self.store.r.connection_pool.connection_kwargs.get("socket_timeout")
        if not timeout:
            return _MAX_BLOCK_MS
        return max(10, min(_MAX_BLOCK_MS, int(float(timeout) * 1000 / 2)))

    async def apply_changes(self, block_ms: int | None = None) -> int:
        """Apply catalog changes logged since the last call; returns how many items changed."""
        res: Any = await self.store.r.xread(
            {self.store.keys.catalog_log(): self.last_id},
            count=_CHUNK,
            block=self._block_ms() if block_ms is None else block_ms,
        )
        if not res:
            return 0
        entries = res[0][1]
        self.last_id = entries[-1][0].decode()
        changed = list(dict.fromkeys(e[1][b"item"].decode() for e in entries))
        await self.refresh(changed)
        return len(changed)

    async def refresh(self, item_ids: Iterable[str]) -> None:
        """Re-read these items from Redis and update metadata and index."""
        ids = list(item_ids)
        metas, vecs = await self._fetch(ids)
        for m in metas:
            self.items[m.item_id] = m
        keep_ids, matrix = self._vectors(metas, vecs)
        kept = set(keep_ids)
        gone = [m.item_id for m in metas if m.item_id not in kept]
        if keep_ids:
            await asyncio.to_thread(self.index.upsert, keep_ids, matrix)
        if gone:
            await asyncio.to_thread(self.index.remove, gone)

    async def follow(self, stop: asyncio.Event) -> None:
        """Apply changes until stop is set; rebuild the index when churn calls for it."""
        while not stop.is_set():
            try:
                await self.apply_changes()
                if self.index.needs_rebuild():
                    await asyncio.to_thread(self.index.rebuild)
                    gc.freeze()  # the rebuilt id maps are long-lived: out of the GC's walks
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving the current view; retry after a pause
                log.exception("catalog follow failed; retrying")
                await asyncio.sleep(1.0)
