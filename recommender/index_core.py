"""One faiss index with its string <-> int id map, and the chunked writes applied to it.

No locking here: ``recommender.index`` decides which core is live and wraps each write
chunk in its exclusive lock (passed in as ``exclusive``).

Bulk Python work (id maps of a million entries) runs in slices with a GIL release between
them: a single ``dict(zip(...))`` over 1M ids holds the GIL ~300 ms, which would stall every
query thread of the API for that long during a rebuild. What slicing cannot split: growing
a dict past ~512k entries allocates its new table in one step (15-30 ms with the GIL held).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from recommender import index_faiss as fx
from recommender.index_faiss import IdArray, IndexParams, Matrix

# Items per exclusive section. At 1M x 32 a query waiting on 10k removes took 2.5 ms with
# chunks of 1,000 and 1.3 ms with 250; writes get ~1.5x slower (still >100k items/s).
WRITE_CHUNK = 250
SLICE = 1_000  # Python-level items per GIL hold in bulk work (~0.3 ms)

Exclusive = Callable[[], contextlib.AbstractContextManager[None]]


@dataclass(eq=False)
class Core:
    """A faiss index and its id map; replaced wholesale by a rebuild."""

    index: faiss.Index
    keys: list[str | None]  # faiss int id -> item id; None once removed
    ids: dict[str, int]  # item id -> faiss int id
    built_size: int
    churn: int = 0  # items upserted or removed since the build


def yield_gil() -> None:
    """Let waiting threads (queries) run now rather than at the next 5 ms switch."""
    time.sleep(0)


def id_map(keys: Sequence[str | None]) -> dict[str, int]:
    """item id -> position, skipping holes, built in slices."""
    out: dict[str, int] = {}
    for start in range(0, len(keys), SLICE):
        part = enumerate(keys[start : start + SLICE], start)
        out.update((k, i) for i, k in part if k is not None)
        yield_gil()
    return out


def new_core(ids: list[str], x: Matrix, params: IndexParams) -> Core:
    """A freshly trained and filled core; faiss ids are 0..n-1 in the order given."""
    index = fx.new_index(x.shape[1], fx.choose_nlist(len(ids), params), x, params)
    fx.set_nprobe(index, params.nprobe)
    ints = np.arange(len(ids), dtype=np.int64)
    for start in range(0, len(ids), 100_000):  # bounds the temporary coarse-assignment arrays
        rows = x[start : start + 100_000]
        fx.add(index, rows, ints[start : start + 100_000], fx.coarse_assign(index, rows))
    keys: list[str | None] = []
    for start in range(0, len(ids), SLICE):
        keys.extend(ids[start : start + SLICE])
        yield_gil()
    return Core(index, keys, id_map(keys), built_size=len(ids))


def retire(core: Core) -> None:
    """Free a core no reader can reach any more, piece by piece.

    A plain ``del`` of a 1M-item core holds the GIL ~40 ms (faiss destructor, then the
    dict and list deallocations); faiss' reset() frees the lists with the GIL released.
    """
    core.index.reset()
    while core.keys:
        del core.keys[-SLICE:]
        yield_gil()
    while core.ids:
        for _ in range(min(SLICE, len(core.ids))):
            core.ids.popitem()
        yield_gil()


def live_items(core: Core) -> tuple[list[str], IdArray]:
    """(item ids, faiss ids) of everything indexed, gathered in slices."""
    keys: list[str] = []
    ints: list[IdArray] = [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(core.keys), SLICE):
        part = core.keys[start : start + SLICE]
        keys.extend(k for k in part if k is not None)
        live = [i for i, k in enumerate(part, start) if k is not None]
        ints.append(np.array(live, dtype=np.int64))
        yield_gil()
    return keys, np.concatenate(ints)


def upsert(core: Core, keys: list[str], x: Matrix, exclusive: Exclusive) -> None:
    """Replace or add rows chunk by chunk; an item keeps its faiss id across upserts."""
    for start in range(0, len(keys), WRITE_CHUNK):
        chunk, rows = keys[start : start + WRITE_CHUNK], x[start : start + WRITE_CHUNK]
        lists = fx.coarse_assign(core.index, rows)  # the costly part, outside the lock
        with exclusive():
            old = [core.ids[k] for k in chunk if k in core.ids]
            if old:
                fx.remove(core.index, np.array(old, dtype=np.int64))
            ints = []
            for k in chunk:
                i = core.ids.get(k)
                if i is None:
                    i = core.ids[k] = len(core.keys)
                    core.keys.append(k)
                ints.append(i)
            fx.add(core.index, rows, np.array(ints, dtype=np.int64), lists)
        core.churn += len(chunk)


def remove(core: Core, keys: list[str], exclusive: Exclusive) -> int:
    """Drop items chunk by chunk; returns how many were indexed."""
    removed = 0
    for start in range(0, len(keys), WRITE_CHUNK):
        with exclusive():
            ints = [core.ids.pop(k) for k in keys[start : start + WRITE_CHUNK] if k in core.ids]
            for i in ints:
                core.keys[i] = None
            if ints:
                fx.remove(core.index, np.array(ints, dtype=np.int64))
        removed += len(ints)
    core.churn += removed
    return removed
