"""The in-process item index: cosine ANN over unit item vectors, updated live, swapped on rebuild.

Structure: exact ``IndexFlatIP`` (in an ``IndexIDMap2``) below ``exact_below`` items, else
``IndexIVFFlat`` with inner product, ~sqrt(n) lists trained on a sample, and a hash-table
direct map so items can be removed and read back by id. String item ids map to int64 faiss
ids; an upserted item keeps its int id, removed ids are retired until the next rebuild.

What is safe across threads:

- any number of threads may search / search_batch / similar / read size concurrently;
- upsert / remove may come from any thread and are serialised; each applies to faiss in
  chunks of ``index_core.WRITE_CHUNK`` items under the exclusive side of a phase-fair
  readers-writer lock, so a query waits at most one chunk and never sees half a chunk; an
  item removed or moved is gone from results once the call returns;
- rebuild() may run in its own thread beside both: it copies the live vectors, trains and
  fills a new faiss index with no lock held, replays the writes made meanwhile, then swaps
  the reference; queries already running finish on the old index;
- save() runs beside queries and pauses writers for the duration of the write.

Queries do take a (shared) lock: faiss reallocates inverted lists on add/remove, and a
search running through one at that moment reads freed memory.

Latency while writing (1M items, 2 cores): faiss releases the GIL, the Python-side work of a
rebuild runs in short slices (index_core), so queries keep their ~1 ms; what remains is one
~25 ms GIL stall per rebuild, when the new 1M-entry id map's dict table is allocated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
import numpy.typing as npt

from recommender import index_core as ic
from recommender import index_faiss as fx
from recommender.index_faiss import IndexParams, Matrix
from recommender.index_snapshot import read_snapshot, write_snapshot
from recommender.rwlock import ReadWriteLock

__all__ = ["Hit", "IndexParams", "ItemIndex"]

Hit = tuple[str, float]  # (item id, cosine similarity)
_Op = tuple[list[str], Matrix | None]  # a journaled write: upsert (with rows) or remove


class ItemIndex:
    """Nearest items by cosine similarity, with live upserts/removes and hot-swapped rebuilds."""

    def __init__(self, dim: int, params: IndexParams | None = None) -> None:
        self.dim = dim
        self.params = params or IndexParams()
        self._core = ic.new_core([], np.zeros((0, dim), np.float32), self.params)
        self._rw = ReadWriteLock()  # queries shared; faiss mutation and swap exclusive
        self._writer = threading.Lock()  # one mutator at a time (writes, rebuild copy/swap)
        self._rebuilding = threading.Lock()
        self._journal: list[_Op] | None = None  # writes made while a rebuild is building
        self._version = 0
        self._built_at = time.time()

    @classmethod
    def build(
        cls, ids: Sequence[str], matrix: npt.ArrayLike, params: IndexParams | None = None
    ) -> ItemIndex:
        """A new index over these items (later duplicates of an id win)."""
        x = np.asarray(matrix, dtype=np.float32)  # no copy yet; unit_rows makes the only one
        out = cls(x.shape[-1], params)
        keys, x = fx.last_wins(ids, fx.unit_rows(x, out.dim))
        with fx.omp_threads(out.params.build_threads):
            out._core = ic.new_core(keys, x, out.params)
        return out

    # -- reads ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Active items."""
        return len(self._core.ids)

    @property
    def version(self) -> int:
        """Bumped by every write that changed something and by every rebuild."""
        return self._version

    @property
    def built_at(self) -> float:
        """Unix time the current faiss structure was built."""
        return self._built_at

    @property
    def structure(self) -> str:
        """The faiss structure in index-factory terms, e.g. "IVF1000,SQfp16"."""
        return fx.describe(self._core.index)

    @property
    def memory_bytes(self) -> int:
        """Approximate size of the faiss structure (the Python id map comes on top)."""
        return fx.nbytes(self._core.index)

    @property
    def exact(self) -> bool:
        """True while the index searches exhaustively (small catalogs)."""
        return fx.is_exact(self._core.index)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._core.ids

    def search(
        self, vector: npt.ArrayLike, k: int, *, exclude: AbstractSet[str] | None = None
    ) -> list[Hit]:
        """The k items most similar to vector, best first, never any id in exclude."""
        return self._query(fx.unit_rows(vector, self.dim), k, exclude)[0]

    def search_batch(self, matrix: npt.ArrayLike, k: int) -> list[list[Hit]]:
        """search() for each row of matrix."""
        return self._query(fx.unit_rows(matrix, self.dim), k, None)

    def similar(self, item_id: str, k: int) -> list[Hit]:
        """The k items nearest to item_id, without itself; KeyError when it is not indexed."""
        with self._rw.read():
            core = self._core
            row = core.ids.get(item_id)
            if row is None:
                raise KeyError(item_id)
            vec = fx.reconstruct(core.index, np.array([row], dtype=np.int64))
        return self._query(vec, k, {item_id})[0]

    def _query(self, q: Matrix, k: int, exclude: AbstractSet[str] | None) -> list[list[Hit]]:
        if k <= 0:
            return [[] for _ in range(len(q))]
        fx.ensure_threads(self.params.threads)
        with self._rw.read():
            core = self._core
            # Over-fetch by the excluded items actually present: exactly enough to still
            # return k hits, and cheaper than a faiss IDSelector for small exclude sets.
            skip = sum(1 for e in exclude if e in core.ids) if exclude else 0
            fetch = min(k + skip, len(core.keys))
            if fetch == 0:
                return [[] for _ in range(len(q))]
            scores, labels = core.index.search(q, fetch)
            keys = core.keys
            out: list[list[Hit]] = []
            for row_scores, row_labels in zip(scores.tolist(), labels.tolist(), strict=True):
                hits: list[Hit] = []
                for score, label in zip(row_scores, row_labels, strict=True):
                    key = keys[label] if label >= 0 else None  # -1: fewer than fetch found
                    if key is not None and not (exclude and key in exclude):
                        hits.append((key, score))
                        if len(hits) == k:
                            break
                out.append(hits)
        return out

    def set_nprobe(self, nprobe: int) -> None:
        """Change the lists probed per query at run time (the recall/latency knob)."""
        params = dataclasses.replace(self.params, nprobe=nprobe)
        with self._writer, self._rw.write():
            self.params = params
            fx.set_nprobe(self._core.index, nprobe)

    # -- writes ---------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Add items or replace their vectors (re-embedded or re-priced items)."""
        keys, x = fx.last_wins(ids, fx.unit_rows(vectors, self.dim))
        if not keys:
            return
        with self._writer:
            if self._journal is not None:
                self._journal.append((keys, x))
            fx.ensure_threads(self.params.threads)  # coarse assignment runs in this thread
            ic.upsert(self._core, keys, x, self._rw.write)
            self._version += 1

    def remove(self, ids: Iterable[str]) -> int:
        """Drop items (deactivated); unknown ids are ignored. Returns how many were indexed."""
        keys = list(dict.fromkeys(ids))
        with self._writer:
            if self._journal is not None:
                self._journal.append((keys, None))
            removed = ic.remove(self._core, keys, self._rw.write)
            if removed:
                self._version += 1
        return removed

    # -- rebuild and snapshots ------------------------------------------------------------

    def needs_rebuild(self) -> bool:
        """True when the structure no longer suits the catalog (IVF churn, or outgrown exact)."""
        core = self._core
        if fx.is_exact(core.index):
            # Exact search never loses recall, it only gets slower as the catalog grows.
            return fx.choose_nlist(len(core.ids), self.params) > 0
        return core.churn > self.params.churn_limit * max(core.built_size, 1)

    def rebuild(self) -> None:
        """Rebuild the faiss structure from the live items off to the side, then swap it in."""
        # Every faiss call here (reading vectors back included) shares the cores with queries.
        with self._rebuilding, fx.omp_threads(self.params.rebuild_threads):
            with self._writer:
                keys, ints = ic.live_items(self._core)
                rows = fx.reconstruct(self._core.index, ints)
                self._journal = []
            try:
                fresh = ic.new_core(keys, rows, self.params)
            except BaseException:
                with self._writer:
                    self._journal = None
                raise
            with self._writer:
                # The fresh core is invisible to readers until the swap: no lock per chunk.
                for op_keys, op_rows in self._journal:
                    if op_rows is None:
                        ic.remove(fresh, op_keys, contextlib.nullcontext)
                    else:
                        ic.upsert(fresh, op_keys, op_rows, contextlib.nullcontext)
                fx.set_nprobe(fresh.index, self.params.nprobe)  # set_nprobe() meanwhile wins
                old = self._core
                with self._rw.write():
                    self._core = fresh
                self._journal = None
                self._version += 1
                self._built_at = time.time()
            # The exclusive section above waited out every query that held the old core.
            ic.retire(old)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Snapshot to the directory path (replaced atomically); queries keep running."""
        with self._writer:
            core = self._core
            meta = {
                "dim": self.dim,
                "version": self._version,
                "built_at": self._built_at,
                "saved_at": time.time(),
                "built_size": core.built_size,
                "churn": core.churn,
                "size": len(core.ids),
                "params": self.params.to_json(),
            }
            write_snapshot(path, core.index, core.keys, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], params: IndexParams | None = None) -> ItemIndex:
        """An index from a snapshot; params default to the ones it was saved with."""
        index, keys, meta = read_snapshot(path)
        out = cls(int(meta["dim"]), params or IndexParams(**meta["params"]))
        fx.set_nprobe(index, out.params.nprobe)
        ids = ic.id_map(keys)
        out._core = ic.Core(index, keys, ids, int(meta["built_size"]), int(meta["churn"]))
        out._version = int(meta["version"])
        out._built_at = float(meta["built_at"])
        return out
