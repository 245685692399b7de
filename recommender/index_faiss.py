"""FAISS building blocks for the item index: input checks, structure, add/remove, threads.

Everything here works on one faiss index and knows nothing about string ids or locking;
``recommender.index`` owns both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class IndexParams:
    """How the item index is built and searched."""

    # Lists probed per query. 32 with nlist ~ sqrt(n), on clustered data (loadtest bench),
    # recall@50 item-like / user-like queries: 1M x 64 0.997 / 0.981 at 1.3 ms p99,
    # 1M x 32 0.993 / 0.954 at 0.9 ms; 16 already misses 0.95 for user-like queries.
    nprobe: int = 32
    # Inverted lists; None picks ~sqrt(n) (see choose_nlist for why not 4*sqrt(n)).
    nlist: int | None = None
    # Below this many items an exact IndexFlatIP is both faster to query and exact.
    exact_below: int = 5_000
    # OpenMP threads per querying thread; 1 keeps single queries fast and stops several
    # API threads from each spawning a full OpenMP team on a 2-core machine.
    threads: int = 1
    # OpenMP threads for build(); None = all cores, right at start-up with no traffic.
    build_threads: int | None = None
    # ... and for rebuild(), which runs beside live queries: at 100k items a 2-thread
    # rebuild raised their p99 from 0.3 to 1.9 ms on 2 cores, a 1-thread one did not.
    rebuild_threads: int = 1
    # Fraction of the built size changed by upserts/removes after which IVF lists are
    # stale enough (centroids trained on the old catalog, lists unbalanced) to rebuild.
    churn_limit: float = 0.2
    # k-means sample per list and iterations: 64/list and 20 rounds train 1,000 lists in
    # ~1 s on 2 cores; faiss wants >= 39 points per list, and the sample loses up to 21%
    # to deduplication.
    train_per_list: int = 64
    train_iters: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("nprobe", "exact_below", "threads", "rebuild_threads", "train_iters"):
            if getattr(self, name) < 1:
                raise ValueError(f"IndexParams.{name} must be >= 1, got {getattr(self, name)}")
        if self.train_per_list < 50:
            raise ValueError(f"IndexParams.train_per_list must be >= 50, got {self.train_per_list}")
        if self.nlist is not None and self.nlist < 1:
            raise ValueError(f"IndexParams.nlist must be >= 1 or None, got {self.nlist}")
        if self.build_threads is not None and self.build_threads < 1:
            raise ValueError(f"IndexParams.build_threads must be >= 1, got {self.build_threads}")
        if not self.churn_limit > 0.0:
            raise ValueError(f"IndexParams.churn_limit must be > 0, got {self.churn_limit}")

    def to_json(self) -> dict[str, Any]:
        """Plain-data form, stored in snapshots."""
        return asdict(self)


def unit_rows(vectors: npt.ArrayLike, dim: int) -> Matrix:
    """A C-contiguous float32 (n, dim) copy with rows scaled to unit length."""
    x = np.array(vectors, dtype=np.float32, ndmin=2, order="C")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0.0):
        raise ValueError("vectors must be finite and non-zero")
    x /= norms  # inner product equals cosine only for unit vectors
    return x


def last_wins(ids: Sequence[str], x: Matrix) -> tuple[list[str], Matrix]:
    """Drop earlier duplicates of an id, as if the rows were applied in order."""
    if len(ids) != len(x):
        raise ValueError(f"{len(ids)} ids but {len(x)} vectors")
    last = {item_id: row for row, item_id in enumerate(ids)}
    if len(last) == len(ids):
        return list(ids), x
    return list(last), np.ascontiguousarray(x[list(last.values())])


def choose_nlist(n: int, params: IndexParams) -> int:
    """Inverted lists for n items; 0 means exact search.

    ~sqrt(n) rather than the textbook 4*sqrt(n): at 1M x 64 both reach the same recall at
    the same query cost (same number of vectors scanned), but 4,000 lists take 10-60 s to
    train on 2 cores against ~2 s for 1,000, and a rebuild shares those cores with queries.
    """
    if n < params.exact_below:
        return 0
    want = params.nlist if params.nlist is not None else round(math.sqrt(n))
    return max(1, min(want, n // 39))  # k-means needs >= 39 training points per list


def new_index(dim: int, nlist: int, sample: Matrix, params: IndexParams) -> faiss.Index:
    """An empty, trained index: exact when nlist is 0, else IVF (float16 lists) trained on a
    sample."""
    if nlist == 0:
        # IDMap2 keeps a reverse map, so vectors can be read back by id (similar, rebuild).
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    # Vectors stored as float16: a query at 1M x 32 scans ~16k vectors and is bound by
    # memory traffic, so half the bytes is ~30% less time (137 -> 97 us at nprobe 16,
    # measured), with the same recall@50 as float32 (11 bits of mantissa for unit vectors).
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        nlist,
        faiss.ScalarQuantizer.QT_fp16,
        faiss.METRIC_INNER_PRODUCT,
    )
    index.cp.niter = params.train_iters
    index.cp.seed = params.seed
    take = nlist * params.train_per_list
    if len(sample) > 2 * take:
        # Draws with replacement, deduplicated: >= 79% of take stay unique at this ratio, and
        # unlike rng.choice(replace=False) it never holds the GIL for a 1M-row shuffle.
        rows = np.unique(np.random.default_rng(params.seed).integers(0, len(sample), take))
        sample = np.ascontiguousarray(sample[rows])
    index.train(sample)  # faiss itself caps k-means at 256 points per list
    # A hash table id -> (list, offset) makes remove_ids O(removed) instead of a scan of
    # every list, and lets reconstruct() read a vector back by id.
    # (DirectMap is missing from the faiss 1.15 stubs.)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    return index


def describe(index: faiss.Index) -> str:
    """The structure in index-factory terms."""
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return f"IVF{index.nlist},SQfp16"
    return f"IVF{index.nlist},Flat" if isinstance(index, faiss.IndexIVF) else "Flat"


def is_exact(index: faiss.Index) -> bool:
    """True for the flat (exact) structure."""
    return not isinstance(index, faiss.IndexIVF)


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Lists probed per query (no-op for exact search)."""
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = min(nprobe, index.nlist)


def coarse_assign(index: faiss.Index, x: Matrix) -> IdArray | None:
    """The IVF list of each row, or None for exact search.

    Kept apart from add() so the costly part of an insert (a search over all centroids)
    can run outside the exclusive lock: the quantizer never changes after training.
    """
    if not isinstance(index, faiss.IndexIVF):
        return None
    _, lists = index.quantizer.search(x, 1)
    return np.ascontiguousarray(lists.reshape(-1), dtype=np.int64)


def add(index: faiss.Index, x: Matrix, ids: IdArray, lists: IdArray | None) -> None:
    """Append rows with their int64 ids (lists from coarse_assign)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if lists is None or not isinstance(index, faiss.IndexIVF):
        index.add_with_ids(x, ids)
        return
    # add_core takes precomputed lists; the stubs say arrays, the binding wants pointers.
    index.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(lists))


def remove(index: faiss.Index, ids: IdArray) -> int:
    """Delete rows by id; returns how many were present."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if isinstance(index, faiss.IndexIVF):
        # IVF with a hash-table direct map looks each id up, the cost is O(len(ids)).
        return index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
    # Flat scans every row and asks the selector: a hashed batch, not a linear array.
    return index.remove_ids(faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids)))


def reconstruct(index: faiss.Index, ids: IdArray) -> Matrix:
    """The stored vectors of these ids, in order."""
    if len(ids) == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    out = index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))
    return np.asarray(out, dtype=np.float32)


def nbytes(index: faiss.Index) -> int:
    """Approximate resident size of the faiss structure (vectors, ids, centroids, id map)."""
    n, d = int(index.ntotal), int(index.d)
    code = index.code_size if isinstance(index, faiss.IndexIVF) else 4 * d
    per_item = code + 8 + 32  # vector, id, id-map entry (reverse map or direct-map hash)
    lists = index.nlist if isinstance(index, faiss.IndexIVF) else 0
    return n * per_item + lists * 4 * d


def ensure_threads(n: int) -> None:
    """Set this thread's OpenMP team size (70 ns, so done before every call).

    OpenMP keeps the setting per OS thread: faiss.omp_set_num_threads() in the main thread
    does not reach the API's worker threads, so each querying thread sets its own.
    """
    faiss.omp_set_num_threads(n)


@contextmanager
def omp_threads(n: int | None) -> Iterator[None]:
    """Run the block with n OpenMP threads in this thread (None: leave as is)."""
    if n is None:
        yield
        return
    before = int(faiss.omp_get_max_threads())
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
