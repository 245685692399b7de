"""Item embeddings: co-occurrence counts, SVD, planted structure, cold items, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.embeddings import (
    EmbeddingParams,
    ItemFacts,
    WeightedSession,
    cooccurrence,
    item_embeddings,
    ppmi,
    truncated_svd,
)
from recommender.features import content_vector

GROUP_A = [f"a{i:02d}" for i in range(30)]
GROUP_B = [f"b{i:02d}" for i in range(30)]
HOTEL_SANYA_MID = ItemFacts("hotel", "sanya", "mid", 4)
TOUR_LIJIANG_BUDGET = ItemFacts("tour", "lijiang", "budget")
PARAMS = EmbeddingParams(dim=8, window=3, min_count=3.0, neighbours=5)


def planted_sessions(seed: int = 7, n: int = 600) -> list[WeightedSession]:
    """Sessions that stay inside one of two disjoint groups; some clicks are bookings."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n):
        group = GROUP_A if s % 2 else GROUP_B
        items = [group[i] for i in rng.integers(0, len(group), size=rng.integers(2, 8))]
        weights = [8.0 if rng.random() < 0.1 else 1.0 for _ in items]
        out.append(WeightedSession(items, weights))
    return out


def cosines(vecs: np.ndarray, ids: list[str], left: list[str], right: list[str]) -> float:
    ix = {item: i for i, item in enumerate(ids)}
    a, b = vecs[[ix[i] for i in left]], vecs[[ix[i] for i in right]]
    sims = a @ b.T
    if left == right:
        sims = sims[~np.eye(len(left), dtype=bool)]
    return float(sims.mean())


def test_cooccurrence_collapses_repeats_and_weights_bookings() -> None:
    index = {"a": 0, "b": 1, "c": 2}
    c = cooccurrence([WeightedSession(["a", "a", "b", "c"], [1.0, 1.0, 8.0, 1.0])], index, 2)
    dense = np.zeros((3, 3))
    dense[c.rows, c.cols] = c.vals
    assert np.allclose(dense, dense.T)
    assert np.allclose(np.diag(dense), 0.0)
    assert dense[0, 1] == pytest.approx(np.sqrt(8.0))  # geometric mean of 1 and 8
    assert dense[1, 2] == pytest.approx(np.sqrt(8.0))
    assert dense[0, 2] == pytest.approx(0.5)  # two clicks apart: 1 / distance


def test_cooccurrence_does_not_cross_sessions() -> None:
    index = {"a": 0, "b": 1}
    c = cooccurrence([WeightedSession(["a"], [1.0]), WeightedSession(["b"], [1.0])], index, 5)
    assert len(c.vals) == 0


def test_randomized_svd_matches_the_exact_one() -> None:
    sessions = planted_sessions(n=400)
    ids = sorted({i for s in sessions for i in s.items})
    m = ppmi(cooccurrence(sessions, {x: i for i, x in enumerate(ids)}, 3))
    u_exact, s_exact = truncated_svd(m, 6, dense_max=10_000)
    u_rand, s_rand = truncated_svd(m, 6, dense_max=0, oversample=10, power_iters=8, seed=3)
    # The two planted directions are found exactly; the noise tail (a flat spectrum) closely.
    assert np.allclose(s_rand[:2], s_exact[:2], rtol=1e-6)
    assert np.allclose(s_rand, s_exact, rtol=0.03)
    overlap = np.linalg.norm(u_exact[:, :2].T @ u_rand[:, :2]) ** 2 / 2  # 1.0 = same subspace
    assert overlap > 0.999


def test_learned_vectors_separate_planted_groups() -> None:
    emb = item_embeddings(planted_sessions(), {}, PARAMS)
    within = cosines(emb.vectors, emb.ids, GROUP_A, GROUP_A)
    across = cosines(emb.vectors, emb.ids, GROUP_A, GROUP_B)
    assert within > across + 0.3
    ix = {item: i for i, item in enumerate(emb.ids)}
    sims = emb.vectors @ emb.vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = [emb.ids[j] for j in sims.argmax(axis=1)]
    assert all(n[0] == item[0] for item, n in zip(emb.ids, nearest, strict=True))
    assert emb.stats["learned"] == len(ix) == 60


def test_vectors_are_unit_and_float32() -> None:
    emb = item_embeddings(planted_sessions(), {"lonely": ItemFacts(None, None, None)}, PARAMS)
    assert emb.vectors.dtype == np.float32
    assert emb.vectors.shape == (61, PARAMS.dim)
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)


def test_same_seed_same_vectors() -> None:
    params = EmbeddingParams(dim=8, window=3, dense_max=0, seed=5)  # randomized path
    first = item_embeddings(planted_sessions(), {}, params)
    second = item_embeddings(planted_sessions(), {}, params)
    assert first.ids == second.ids
    assert np.array_equal(first.vectors, second.vectors)


def test_cold_items_land_near_their_same_type_destination_and_band_peers() -> None:
    facts = {i: HOTEL_SANYA_MID for i in GROUP_A} | {i: TOUR_LIJIANG_BUDGET for i in GROUP_B}
    facts["new-hotel"] = ItemFacts("hotel", "sanya", "mid", 4)
    facts["new-tour"] = ItemFacts("tour", "lijiang", "budget")
    facts["new-tour-luxury"] = ItemFacts("tour", "lijiang", "luxury")  # no peer in its band
    facts["new-car"] = ItemFacts("car", "harbin", "mid")  # no peer at all
    emb = item_embeddings(planted_sessions(), facts, PARAMS)
    for item, own, other in [
        ("new-hotel", GROUP_A, GROUP_B),
        ("new-tour", GROUP_B, GROUP_A),
        ("new-tour-luxury", GROUP_B, GROUP_A),
    ]:
        near = cosines(emb.vectors, emb.ids, [item], own)
        far = cosines(emb.vectors, emb.ids, [item], other)
        assert near > far + 0.3, item
        assert near >= cosines(emb.vectors, emb.ids, own, own) - 0.1, item
    car = emb.vectors[emb.ids.index("new-car")]
    assert np.allclose(car, content_vector("car", "harbin", "mid", None, None, PARAMS.dim))
    assert emb.stats["imputed"] == 3
    assert emb.stats["content_only"] == 1


def test_warm_items_blend_in_their_content() -> None:
    facts = {i: HOTEL_SANYA_MID for i in GROUP_A}
    pure = item_embeddings(planted_sessions(), {}, PARAMS)
    blended = item_embeddings(planted_sessions(), facts, PARAMS)
    content = content_vector("hotel", "sanya", "mid", 4, None, PARAMS.dim)
    ix = blended.ids.index("a00")
    expected = PARAMS.alpha * pure.vectors[ix] + (1 - PARAMS.alpha) * content
    expected /= np.linalg.norm(expected)
    assert np.allclose(blended.vectors[ix], expected, atol=1e-5)
    # Items without facts keep their learned vector as it is.
    jx = blended.ids.index("b00")
    assert np.allclose(blended.vectors[jx], pure.vectors[jx], atol=1e-6)


def test_no_sessions_gives_content_vectors() -> None:
    emb = item_embeddings([], {"h1": HOTEL_SANYA_MID}, PARAMS)
    assert emb.ids == ["h1"]
    assert np.allclose(emb.vectors[0], content_vector("hotel", "sanya", "mid", 4, None, 8))
