"""`bench index`: exact search vs ItemIndex (IVF) vs HNSW on clustered unit vectors.

Recall on uniformly random vectors says nothing (every point is about equally far from
every other), so the items are a mixture of Gaussian clusters on the sphere, grouped under
regions so that clusters overlap the way destinations and item kinds do: 1,000 clusters with
Zipf-like sizes, per-cluster spread, 50 regions. Queries are held out from the same mixture
("item-like", what similar-item and fresh-session lookups look like) plus normalised means of
3 indexed items ("user-like", what a profile vector looks like).

Every latency is one query at a time in one thread with one OpenMP thread, as the API asks.
Builds use all cores. Recall is recall@k against the exact IndexFlatIP of the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import orjson

from recommender.index import ItemIndex
from recommender.index_faiss import Matrix, ensure_threads

HNSW_MAX_ITEMS = 200_000  # a 1M HNSW build takes minutes on 2 cores
HNSW_EF_SEARCH = (64, 128)
NPROBE_SWEEP = (8, 16, 32, 64)
CHANGES = 10_000  # upserts and removes timed


def clustered_vectors(
    n: int, dim: int, seed: int, *, clusters: int = 1_000, regions: int = 50
) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """n unit vectors from a mixture of Gaussian clusters on the sphere, and their cluster."""
    rng = np.random.default_rng(seed)
    region = rng.standard_normal((regions, dim), dtype=np.float32)
    region /= np.linalg.norm(region, axis=1, keepdims=True)
    # Cluster centres sit near their region's centre (cosine ~0.6), so neighbouring clusters
    # compete for the top-k the way hotels of the same destination do.
    noise = rng.standard_normal((clusters, dim), dtype=np.float32) * (1.2 / np.sqrt(dim))
    centre = region[rng.integers(0, regions, clusters)] + noise
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    weight = 1.0 / np.arange(1, clusters + 1) ** 0.8
    labels = rng.choice(clusters, size=n, p=rng.permutation(weight / weight.sum()))
    spread = rng.uniform(0.5, 1.0, clusters).astype(np.float32)  # noise norm / centre norm
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= (spread / np.sqrt(dim))[labels, None]
    x += centre[labels]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels.astype(np.int64)


def _ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    a = np.asarray(samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "max_ms": round(float(a.max()), 4),
        "mean_ms": round(float(a.mean()), 4),
        "n": len(samples),
    }


def _one_by_one(search: Callable[[Matrix], object], queries: Matrix) -> dict[str, float]:
    ensure_threads(1)
    for q in queries[:20]:  # warm caches and the OpenMP pool before timing
        search(q[None, :])
    samples = []
    for q in queries:
        t = time.perf_counter()
        search(q[None, :])
        samples.append(time.perf_counter() - t)
    return _ms(samples)


def _recall(truth: npt.NDArray[np.int64], got: list[list[int]]) -> float:
    k = truth.shape[1]
    hits = [len(set(t.tolist()) & set(g)) / k for t, g in zip(truth, got, strict=True)]
    return round(float(np.mean(hits)), 4)


def _rows(index: ItemIndex, queries: Matrix, k: int) -> list[list[int]]:
    """ItemIndex results as row numbers ("item-<row>")."""
    return [[int(i[5:]) for i, _ in hits] for hits in index.search_batch(queries, k)]


def _cpu_seconds() -> tuple[float, float]:
    """(CPU seconds used by the whole machine, by this process) since boot/start."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    mine = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), mine.user + mine.system


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _while_querying(
    index: ItemIndex, queries: Matrix, k: int, work: Callable[[], None]
) -> dict[str, Any]:
    """Run work while another thread queries one at a time; its time and their latencies."""
    stop, samples = threading.Event(), []

    def reader() -> None:
        ensure_threads(1)
        i = 0
        while not stop.is_set():
            q = queries[i % len(queries)]
            t = time.perf_counter()
            index.search(q, k)
            samples.append(time.perf_counter() - t)
            i += 1

    thread = threading.Thread(target=reader)
    thread.start()
    while len(samples) < 10:  # the reader is warm and running before the work starts
        time.sleep(0.001)
    samples.clear()
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    return {"seconds": round(seconds, 3), "queries_meanwhile": _ms(samples)}


def run(n_items: int, dim: int, queries: int, k: int, seed: int) -> dict[str, Any]:
    """compare() on clustered synthetic vectors; a JSON-ready report."""
    t0 = time.perf_counter()
    x, _ = clustered_vectors(n_items + queries + CHANGES, dim, seed)
    generate_s = time.perf_counter() - t0
    items, q_item, fresh = x[:n_items], x[n_items : n_items + queries], x[n_items + queries :]
    report = compare(items, q_item, fresh, k=k, seed=seed)
    report["data"] = "1000 Gaussian clusters on the sphere under 50 regions, Zipf-like sizes"
    report["generate_s"] = round(generate_s, 2)
    return report


def compare(items: Matrix, q_item: Matrix, fresh: Matrix, *, k: int, seed: int) -> dict[str, Any]:
    """Exact vs ItemIndex vs (small catalogs) HNSW on any unit vectors.

    items: the catalog; q_item: held-out queries from the same distribution; fresh: at
    least CHANGES vectors used as the re-embedded items. Trained embeddings plug in here.
    """
    n_items, dim = items.shape
    queries = len(q_item)
    cores = os.cpu_count() or 1
    faiss.omp_set_num_threads(cores)
    rng = np.random.default_rng(seed + 1)
    q_user = items[rng.integers(0, n_items, (queries, 3))].mean(axis=1)
    q_user /= np.linalg.norm(q_user, axis=1, keepdims=True)
    report: dict[str, Any] = {
        "n_items": n_items,
        "dim": dim,
        "queries": queries,
        "k": k,
        "seed": seed,
        "cores": cores,
    }
    busy0, started = _cpu_seconds(), time.perf_counter()

    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(items)
    exact_build = time.perf_counter() - t0
    truth = flat.search(q_item, k)[1]
    truth_user = flat.search(q_user, k)[1]
    report["exact"] = {
        "build_s": round(exact_build, 3),
        "latency": _one_by_one(lambda q: flat.search(q, k), q_item),
        "bytes": n_items * dim * 4,
    }

    ids = [f"item-{i}" for i in range(n_items)]
    rss0 = _rss()
    t0 = time.perf_counter()
    index = ItemIndex.build(ids, items)
    build_s = time.perf_counter() - t0
    report["item_index"] = {
        "structure": index.structure,
        "nprobe": index.params.nprobe,
        "build_s": round(build_s, 3),
        "latency": _one_by_one(lambda q: index.search(q, k), q_item),
        "recall_item_queries": _recall(truth, _rows(index, q_item, k)),
        "recall_user_queries": _recall(truth_user, _rows(index, q_user, k)),
        "bytes_estimate": index.memory_bytes,
        "rss_growth_bytes": _rss() - rss0,
    }
    sweep = {}
    for nprobe in NPROBE_SWEEP if not index.exact else ():
        index.set_nprobe(nprobe)
        sweep[str(nprobe)] = {
            "latency": _one_by_one(lambda q: index.search(q, k), q_item[: min(queries, 500)]),
            "recall_item_queries": _recall(truth, _rows(index, q_item, k)),
            "recall_user_queries": _recall(truth_user, _rows(index, q_user, k)),
        }
    index.set_nprobe(report["item_index"]["nprobe"])
    report["item_index"]["nprobe_sweep"] = sweep

    if n_items <= HNSW_MAX_ITEMS:
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        t0 = time.perf_counter()
        hnsw.add(items)
        hnsw_report: dict[str, Any] = {"M": 32, "build_s": round(time.perf_counter() - t0, 3)}
        for ef in HNSW_EF_SEARCH:
            hnsw.hnsw.efSearch = ef
            faiss.omp_set_num_threads(cores)
            hnsw_report[f"efSearch_{ef}"] = {
                "latency": _one_by_one(lambda q: hnsw.search(q, k), q_item),
                "recall_item_queries": _recall(truth, hnsw.search(q_item, k)[1].tolist()),
                "recall_user_queries": _recall(truth_user, hnsw.search(q_user, k)[1].tolist()),
            }
        report["hnsw"] = hnsw_report
        del hnsw
    else:
        report["hnsw"] = f"skipped above {HNSW_MAX_ITEMS} items (build too slow)"

    # Live changes: re-embed 10k items, then deactivate 10k others, while queries run.
    changes = min(CHANGES, n_items // 4, len(fresh))
    order = rng.permutation(n_items)
    moved, gone = order[:changes], order[changes : 2 * changes]
    moved_ids, gone_ids = [ids[i] for i in moved], [ids[i] for i in gone]
    updates: dict[str, Any] = {"changes": changes}
    updates["upserts"] = _while_querying(
        index, q_item, k, lambda: index.upsert(moved_ids, fresh[: len(moved)])
    )
    updates["removes"] = _while_querying(index, q_item, k, lambda: _remove(index, gone_ids))
    current = items.copy()
    current[moved] = fresh[: len(moved)]
    keep = np.ones(n_items, dtype=bool)
    keep[gone] = False
    rows = np.flatnonzero(keep)
    live = faiss.IndexFlatIP(dim)
    live.add(current[rows])
    truth_live = rows[live.search(q_item, k)[1]]
    found = _rows(index, q_item, k)
    updates["removed_items_returned"] = int(sum(len(set(g) & set(gone.tolist())) for g in found))
    updates["recall_item_queries_after"] = _recall(truth_live, found)
    updates["needs_rebuild"] = index.needs_rebuild()
    report["updates"] = updates

    report["rebuild"] = _while_querying(index, q_item, k, index.rebuild)
    report["rebuild"]["threads"] = index.params.rebuild_threads
    report["rebuild"]["recall_item_queries_after"] = _recall(truth_live, _rows(index, q_item, k))

    tmp = tempfile.mkdtemp(prefix="bench-index-")
    try:
        t0 = time.perf_counter()
        index.save(os.path.join(tmp, "snap"))
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = ItemIndex.load(os.path.join(tmp, "snap"))
        load_s = time.perf_counter() - t0
        size = sum(
            os.path.getsize(os.path.join(tmp, "snap", f))
            for f in os.listdir(os.path.join(tmp, "snap"))
        )
        same = loaded.search_batch(q_item[:50], k) == index.search_batch(q_item[:50], k)
        report["snapshot"] = {
            "save_s": round(save_s, 3),
            "load_s": round(load_s, 3),
            "bytes": size,
            "identical_results": same,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Other processes on a shared machine skew every latency: read this first.
    busy1 = _cpu_seconds()
    report["other_processes_cpu_s"] = round((busy1[0] - busy0[0]) - (busy1[1] - busy0[1]), 1)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def _remove(index: ItemIndex, ids: list[str]) -> None:
    index.remove(ids)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point until the CLI wires `bench index`."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--queries", type=int, default=1_000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    report = run(a.items, a.dim, a.queries, a.k, a.seed)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
