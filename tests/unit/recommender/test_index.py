"""ItemIndex checked against brute force on clustered vectors whose neighbours are known."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import recommender.index_core as index_core
from recommender.index import IndexParams, ItemIndex
from recommender.rwlock import ReadWriteLock

Matrix = npt.NDArray[np.float32]
DIM = 32


def unit(x: npt.NDArray[Any]) -> Matrix:
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def clustered(n: int, clusters: int, spread: float, seed: int) -> tuple[Matrix, npt.NDArray[Any]]:
    """n unit vectors around random cluster centres; spread is the noise norm per point."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, DIM)))
    labels = rng.integers(0, clusters, n)
    noise = rng.standard_normal((n, DIM)) * (spread / np.sqrt(DIM))
    return unit(centres[labels] + noise), labels


def names(n: int, prefix: str = "item") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def exact_top(x: Matrix, q: Matrix, k: int) -> npt.NDArray[np.int64]:
    """Row indices of the k largest inner products per query (brute force in numpy)."""
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k].astype(np.int64)


def ids_of(hits: list[tuple[str, float]]) -> list[str]:
    return [item_id for item_id, _ in hits]


def recall_at(
    keys: list[str], truth: npt.NDArray[np.int64], got: list[list[tuple[str, float]]]
) -> float:
    """Mean share of the true neighbours (rows of keys) found by the index."""
    k = truth.shape[1]
    shares = [
        len({keys[i] for i in t} & set(ids_of(g))) / k for t, g in zip(truth, got, strict=True)
    ]
    return float(np.mean(shares))


@pytest.fixture(scope="module")
def big() -> tuple[Matrix, ItemIndex]:
    x, _ = clustered(30_000 + 300, clusters=300, spread=0.8, seed=1)
    return x, ItemIndex.build(names(30_000), x[:30_000])


def test_recall_at_50_against_brute_force(big: tuple[Matrix, ItemIndex]) -> None:
    x, index = big
    items, queries = x[:30_000], x[30_000:]  # queries are held out, like unseen users
    truth = exact_top(items, queries, 50)
    recall = recall_at(names(30_000), truth, index.search_batch(queries, 50))
    assert not index.exact
    assert recall >= 0.95, recall


def test_recall_at_50_for_profile_like_queries(big: tuple[Matrix, ItemIndex]) -> None:
    x, index = big
    items = x[:30_000]
    rng = np.random.default_rng(0)
    blends = unit(items[rng.integers(0, 30_000, (300, 3))].mean(axis=1))  # between clusters
    truth = exact_top(items, blends, 50)
    assert recall_at(names(30_000), truth, index.search_batch(blends, 50)) >= 0.95


def test_the_recall_check_can_fail(big: tuple[Matrix, ItemIndex]) -> None:
    x, index = big
    truth = exact_top(x[:30_000], x[30_000:], 50)
    index.set_nprobe(1)
    try:
        assert recall_at(names(30_000), truth, index.search_batch(x[30_000:], 50)) < 0.9
    finally:
        index.set_nprobe(IndexParams().nprobe)


def test_scores_are_cosines_best_first(big: tuple[Matrix, ItemIndex]) -> None:
    x, index = big
    hits = index.search(x[30_000], 20)
    assert len(hits) == 20
    rows = [int(item_id.split("-")[1]) for item_id in ids_of(hits)]
    # IVF lists hold float16 vectors: each component keeps 11 bits, so a cosine of unit
    # vectors is off by at most ~d * 2**-11 * max|x_i*q_i|, well under 2e-3 here.
    assert np.allclose([s for _, s in hits], x[rows] @ x[30_000], atol=2e-3)
    assert "SQfp16" in index.structure
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_small_catalog_is_exact_and_matches_brute_force() -> None:
    x, _ = clustered(1_200, clusters=20, spread=0.8, seed=2)
    index = ItemIndex.build(names(1_000), x[:1_000])
    assert index.exact
    for q in x[1_000:1_050]:
        expected = [f"item-{i}" for i in exact_top(x[:1_000], q[None, :], 10)[0]]
        assert ids_of(index.search(q, 10)) == expected


def test_similar_is_the_cluster_without_the_item_itself() -> None:
    x, labels = clustered(10_000, clusters=500, spread=0.3, seed=3)
    index = ItemIndex.build(names(10_000), x)
    for row in range(0, 10_000, 997):
        mates = {f"item-{i}" for i in np.flatnonzero(labels == labels[row]) if i != row}
        got = ids_of(index.similar(f"item-{row}", len(mates)))
        assert f"item-{row}" not in got
        assert set(got) == mates


def test_similar_unknown_id_raises_key_error() -> None:
    index = ItemIndex.build(names(10), clustered(10, 2, 0.5, seed=4)[0])
    with pytest.raises(KeyError):
        index.similar("no-such-item", 5)


def test_upsert_moves_an_item_to_its_new_neighbourhood() -> None:
    x, labels = clustered(10_000, clusters=500, spread=0.3, seed=5)
    index = ItemIndex.build(names(10_000), x)
    other = int(np.flatnonzero(labels != labels[0])[0])  # an item of another cluster
    index.upsert(["item-0"], x[other][None, :])
    assert index.size == 10_000
    assert "item-0" in ids_of(index.search(x[other], 5))
    old_mates = int(np.flatnonzero(labels == labels[0])[1])
    assert "item-0" not in ids_of(index.search(x[old_mates], 30))
    new_mates = {f"item-{i}" for i in np.flatnonzero(labels == labels[other])}
    assert set(ids_of(index.similar("item-0", len(new_mates) - 1))) <= new_mates


def test_upsert_adds_new_items_and_last_duplicate_wins() -> None:
    x, _ = clustered(10_003, clusters=500, spread=0.3, seed=6)
    index = ItemIndex.build(names(10_000), x[:10_000])
    index.upsert(["new", "new", "other"], x[10_000:])
    assert index.size == 10_002
    assert ids_of(index.search(x[10_001], 1)) == ["new"]
    assert ids_of(index.similar("new", 1)) != ["new"]


def test_remove_makes_an_item_disappear_at_once() -> None:
    x, _ = clustered(10_000, clusters=500, spread=0.3, seed=7)
    index = ItemIndex.build(names(10_000), x)
    assert ids_of(index.search(x[42], 1)) == ["item-42"]
    version = index.version
    assert index.remove(["item-42", "never-indexed"]) == 1
    assert "item-42" not in ids_of(index.search(x[42], 50))
    assert "item-42" not in index
    assert index.size == 9_999 and index.version == version + 1
    with pytest.raises(KeyError):
        index.similar("item-42", 5)
    assert index.remove(["item-42"]) == 0  # redelivered event: harmless


def test_exclude_skips_items_and_still_returns_k(big: tuple[Matrix, ItemIndex]) -> None:
    x, index = big
    q = x[30_001]
    top = ids_of(index.search(q, 13))
    excluded = set(top[:3])
    got = ids_of(index.search(q, 10, exclude=excluded | {"not-indexed"}))
    assert len(got) == 10
    assert not excluded & set(got)
    assert got == top[3:]


def test_rebuild_after_churn_keeps_results_correct() -> None:
    x, _ = clustered(12_000 + 200, clusters=200, spread=0.8, seed=8)
    index = ItemIndex.build(names(10_000), x[:10_000])
    assert not index.needs_rebuild()
    moved = names(10_000)[:1_500]
    index.upsert(moved, x[10_000:11_500])  # re-embedded: 15% churn
    index.upsert(names(500, "fresh"), x[11_500:12_000])
    index.remove(names(10_000)[9_000:9_200])
    assert index.needs_rebuild()
    version, built_at = index.version, index.built_at

    index.rebuild()

    assert not index.needs_rebuild()
    assert index.version == version + 1 and index.built_at >= built_at
    assert index.size == 10_000 + 500 - 200
    current = dict(zip(names(10_000), x[:10_000], strict=True))
    current.update(zip(moved, x[10_000:11_500], strict=True))
    current.update(zip(names(500, "fresh"), x[11_500:12_000], strict=True))
    for gone in names(10_000)[9_000:9_200]:
        del current[gone]
    keys, rows = list(current), np.stack(list(current.values()))
    queries = x[12_000:]
    truth = exact_top(rows, queries, 50)
    recall = recall_at(keys, truth, index.search_batch(queries, 50))
    assert recall >= 0.95, recall


def test_rebuild_keeps_writes_made_while_it_was_building(monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = clustered(10_001, clusters=500, spread=0.3, seed=9)
    index = ItemIndex.build(names(10_000), x[:10_000])
    real_new_core = index_core.new_core

    def build_while_writes_arrive(*args: Any) -> Any:
        index.upsert(["late"], x[10_000][None, :])  # lands on the live index + the journal
        index.remove(["item-7"])
        return real_new_core(*args)

    monkeypatch.setattr(index_core, "new_core", build_while_writes_arrive)
    index.rebuild()
    assert ids_of(index.search(x[10_000], 1)) == ["late"]
    assert "item-7" not in index and "item-7" not in ids_of(index.search(x[7], 50))


def test_exact_index_that_outgrows_exact_search_asks_for_rebuild() -> None:
    x, _ = clustered(3_000, clusters=50, spread=0.8, seed=10)
    index = ItemIndex(DIM, IndexParams(exact_below=2_000))
    index.upsert(names(1_000), x[:1_000])
    assert index.exact and not index.needs_rebuild()
    index.upsert(names(3_000)[1_000:], x[1_000:])
    assert index.needs_rebuild()
    index.rebuild()
    assert not index.exact and index.size == 3_000
    assert ids_of(index.search(x[5], 1)) == ["item-5"]


def test_snapshot_round_trip_gives_identical_results(tmp_path: Path) -> None:
    x, _ = clustered(10_100, clusters=300, spread=0.8, seed=11)
    index = ItemIndex.build(names(10_000), x[:10_000], IndexParams(nprobe=16))
    index.upsert(["item-1"], x[10_000][None, :])
    index.remove(["item-2"])
    index.save(tmp_path / "snap")
    index.save(tmp_path / "snap")  # replacing an existing snapshot works

    loaded = ItemIndex.load(tmp_path / "snap")

    assert (loaded.size, loaded.version, loaded.built_at) == (
        index.size,
        index.version,
        index.built_at,
    )
    assert loaded.params == index.params and not loaded.exact
    assert loaded.search_batch(x[10_000:], 20) == index.search_batch(x[10_000:], 20)
    assert loaded.similar("item-1", 10) == index.similar("item-1", 10)
    loaded.remove(["item-3"])  # a loaded index stays writable
    assert "item-3" not in ids_of(loaded.search(x[3], 20))


def test_empty_index_and_bad_input() -> None:
    index = ItemIndex(DIM)
    assert index.search(np.ones(DIM), 10) == [] and index.size == 0
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones(DIM + 1), 10)
    with pytest.raises(ValueError, match="non-zero"):
        index.upsert(["a"], np.zeros((1, DIM)))
    with pytest.raises(ValueError, match="ids but"):
        index.upsert(["a", "b"], np.ones((1, DIM)))


def test_queries_run_safely_beside_a_writer_and_a_rebuild() -> None:
    x, _ = clustered(16_000, clusters=300, spread=0.8, seed=12)
    index = ItemIndex.build(names(12_000), x[:12_000])
    errors: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        try:
            while not stop.is_set():
                for hits in index.search_batch(x[:8], 10):
                    assert len(hits) == 10
        except BaseException as e:  # surfaced in the main thread below
            errors.append(e)

    readers = [threading.Thread(target=query) for _ in range(2)]
    for t in readers:
        t.start()
    rebuild = threading.Thread(target=index.rebuild)
    for step in range(8):
        index.upsert(names(500, f"new{step}"), x[12_000 + step * 500 : 12_500 + step * 500])
        index.remove(names(12_000)[step * 300 : (step + 1) * 300])
        if step == 2:
            rebuild.start()
    rebuild.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert index.size == 12_000 + 4_000 - 2_400
    assert ids_of(index.search(x[12_000], 1)) == ["new0-0"]
    assert "item-0" not in index


def test_a_waiting_query_goes_between_two_write_chunks() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    reader_waiting = threading.Event()

    def query() -> None:
        reader_waiting.set()
        with lock.read():
            order.append("read")

    with lock.write():
        reader = threading.Thread(target=query)
        reader.start()
        reader_waiting.wait()
        time.sleep(0.05)  # the reader is now blocked on the first chunk
        order.append("chunk 1")
    with lock.write():  # the writer comes straight back for its next chunk
        order.append("chunk 2")
    reader.join()
    assert order == ["chunk 1", "read", "chunk 2"]
