"""Item vectors learned from sessions: windowed co-occurrence -> PPMI -> truncated SVD (pure).

The recipe is Levy, Goldberg & Dagan (2015), "Improving distributional similarity with
lessons learned from word embeddings": co-occurrence within a window (weight 1/distance),
PPMI with context distribution smoothing (0.75), SVD, unit rows. Sessions carry a weight per
click (a booking counts more than a view); a pair counts the geometric mean of its weights.

One change: travel sessions form one cluster per destination (dozens), more than `dim` = 32
orthogonal directions hold, so a rank-32 SVD keeps the largest clusters and blurs the rest
(next-item HR@20 0.47 on the synthetic world). The SVD keeps rank `svd_rank` (128) instead and
a seeded Gaussian projection takes it down to `dim`, which preserves cosines approximately
(Johnson-Lindenstrauss) for every cluster (HR@20 0.79). Singular values weigh the directions
fully (power 1, not Levy's 0.5), so the weak noise directions of a high-rank SVD stay weak.

Learned vectors are then blended with content vectors (features.content_vector) so that every
catalog item gets one: items with enough co-occurrence evidence get
``alpha * learned + (1 - alpha) * content``; items with little or none borrow the mean learned
vector of their nearest warm items of the same type, destination and price band (then type and
destination), so new items land next to similar known ones; items with no such neighbour keep
their content vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from recommender.features import content_vector

Matrix = npt.NDArray[np.float32]
FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]

_CHUNK = 1 << 18  # non-zeros multiplied at once in the sparse product (bounds memory)


class WeightedSession(NamedTuple):
    """Item ids in click order with one weight per click."""

    items: Sequence[str]
    weights: Sequence[float]


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What the content blend needs to know about an item."""

    item_type: str | None
    destination: str | None
    band: str | None
    stars: int | None = None
    attributes: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingParams:
    """Constants of the embedding fit; the caller takes them from Settings."""

    dim: int = 32
    window: int = 5  # clicks either side that count as co-occurring
    min_count: float = 5.0  # weighted co-occurrences an item needs to trust its own vector
    alpha: float = 0.8  # share of the learned vector in the blend with content
    neighbours: int = 10  # warm items averaged for a cold one
    cds: float = 0.75  # context distribution smoothing exponent of PPMI
    eig_power: float = 1.0  # singular values are raised to this power (see module doc)
    svd_rank: int = 128  # rank of the SVD before the random projection down to `dim`
    dense_max: int = 2000  # up to this many items: exact dense eigendecomposition
    oversample: int = 10  # extra random directions of the randomized SVD
    power_iters: int = 8  # subspace iterations of the randomized SVD (PPMI spectra are flat)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.window < 1 or self.neighbours < 1:
            raise ValueError("dim, window and neighbours must be >= 1")
        if not 0.0 <= self.alpha <= 1.0 or self.min_count < 0:
            raise ValueError("alpha must be in [0, 1] and min_count >= 0")


class Cooc(NamedTuple):
    """A sparse symmetric n x n matrix as COO triplets, sorted by (row, col), no duplicates."""

    rows: IntArr
    cols: IntArr
    vals: FloatArr
    n: int


@dataclass(frozen=True, slots=True)
class ItemEmbeddings:
    """Unit item vectors (rows of `vectors` in `ids` order) and how each was made."""

    ids: list[str]
    vectors: Matrix
    support: FloatArr  # weighted co-occurrences per item
    stats: dict[str, int]


def cooccurrence(
    sessions: Sequence[WeightedSession], index: Mapping[str, int], window: int
) -> Cooc:
    """Weighted co-occurrence counts of items within `window` clicks of each other.

    Consecutive repeats of one item collapse into one click (keeping the larger weight), so
    re-viewing a page does not shrink the window; an item never co-occurs with itself.
    """
    n = len(index)
    flat: list[int] = []
    wts: list[float] = []
    sids: list[int] = []
    for s, (items, weights) in enumerate(sessions):
        prev = -1
        for item, w in zip(items, weights, strict=True):
            ix = index[item]
            if ix == prev:
                wts[-1] = max(wts[-1], float(w))
                continue
            flat.append(ix)
            wts.append(float(w))
            sids.append(s)
            prev = ix
    a_all = np.asarray(flat, dtype=np.int64)
    w_all = np.sqrt(np.maximum(np.asarray(wts, dtype=np.float64), 0.0))
    s_all = np.asarray(sids, dtype=np.int64)
    keys = np.zeros(0, dtype=np.int64)
    vals = np.zeros(0, dtype=np.float64)
    for d in range(1, window + 1):
        if len(a_all) <= d:
            break
        a, b = a_all[:-d], a_all[d:]
        ok = (s_all[:-d] == s_all[d:]) & (a != b)
        a, b = a[ok], b[ok]
        w = w_all[:-d][ok] * w_all[d:][ok] / d
        keys, vals = _merge(keys, vals, np.concatenate([a * n + b, b * n + a]), np.tile(w, 2))
    return Cooc(keys // max(n, 1), keys % max(n, 1), vals, n)


def _merge(k1: IntArr, v1: FloatArr, k2: IntArr, v2: FloatArr) -> tuple[IntArr, FloatArr]:
    """Sum two key/value lists into one with sorted unique keys."""
    uniq, inv = np.unique(np.concatenate([k1, k2]), return_inverse=True)
    sums = np.bincount(inv, weights=np.concatenate([v1, v2]), minlength=len(uniq))
    return uniq.astype(np.int64, copy=False), sums.astype(np.float64, copy=False)


def ppmi(c: Cooc, cds: float = 0.75) -> Cooc:
    """Positive pointwise mutual information, contexts smoothed by `cds` (zeros dropped).

    Smoothing makes PMI(a, b) differ from PMI(b, a); their mean is taken, so the matrix
    stays symmetric (item similarity has no direction) and its SVD is an eigendecomposition.
    """
    if len(c.vals) == 0:
        return c
    row = np.bincount(c.rows, weights=c.vals, minlength=c.n)
    log_row = np.log(np.where(row > 0, row, 1.0))
    log_ctx = cds * log_row
    log_norm = np.log((row[row > 0] ** cds).sum())
    both = log_row[c.rows] + log_ctx[c.cols] + log_row[c.cols] + log_ctx[c.rows]
    pmi = np.log(c.vals) + log_norm - 0.5 * both
    keep = pmi > 0
    return Cooc(c.rows[keep], c.cols[keep], pmi[keep], c.n)


def spmm(c: Cooc, x: FloatArr) -> FloatArr:
    """The product of the sparse matrix `c` with a dense n x m matrix, in bounded memory."""
    out = np.zeros((c.n, x.shape[1]), dtype=np.float64)
    for start in range(0, len(c.vals), _CHUNK):
        rows = c.rows[start : start + _CHUNK]
        prod = c.vals[start : start + _CHUNK, None] * x[c.cols[start : start + _CHUNK]]
        heads = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows are sorted
        out[rows[heads]] += np.add.reduceat(prod, heads, axis=0)
    return out


def truncated_svd(
    c: Cooc,
    k: int,
    *,
    dense_max: int = 2000,
    oversample: int = 10,
    power_iters: int = 8,
    seed: int = 0,
) -> tuple[FloatArr, FloatArr]:
    """Top-k singular pairs (U, s) of a symmetric sparse matrix, s descending.

    Exact (dense eigendecomposition) up to `dense_max` rows; above, randomized subspace
    iteration (Halko, Martinsson & Tropp 2011, algorithm 4.4), using A = A^T.
    Signs are fixed (largest entry of each column positive) so results are reproducible.
    """
    k = min(k, c.n)
    if c.n <= dense_max or k + oversample >= c.n:
        a = np.zeros((c.n, c.n), dtype=np.float64)
        a[c.rows, c.cols] = c.vals
        lam, vecs = np.linalg.eigh(a)
        order = np.argsort(-np.abs(lam), kind="stable")[:k]
        u, s = vecs[:, order], np.abs(lam[order])
    else:
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(spmm(c, rng.standard_normal((c.n, k + oversample))))
        for _ in range(power_iters):
            q, _ = np.linalg.qr(spmm(c, q))
        ub, s_all, _ = np.linalg.svd(spmm(c, q).T, full_matrices=False)  # Q^T A = (A Q)^T
        u, s = q @ ub[:, :k], s_all[:k]
    peak = np.abs(u).argmax(axis=0)
    u = u * np.where(u[peak, np.arange(u.shape[1])] < 0, -1.0, 1.0)
    return u, s


def learn_vectors(
    sessions: Sequence[WeightedSession], ids: Sequence[str], params: EmbeddingParams
) -> tuple[Matrix, FloatArr]:
    """Unit vectors from co-occurrence (zero rows for items without any) and their support."""
    index = {item: i for i, item in enumerate(ids)}
    counts = cooccurrence(sessions, index, params.window)
    support = np.bincount(counts.rows, weights=counts.vals, minlength=len(ids)).astype(np.float64)
    out = np.zeros((len(ids), params.dim), dtype=np.float32)
    m = ppmi(counts, params.cds)
    if len(m.vals) == 0:
        return out, support
    u, s = truncated_svd(
        m,
        max(params.svd_rank, params.dim),
        dense_max=params.dense_max,
        oversample=params.oversample,
        power_iters=params.power_iters,
        seed=params.seed,
    )
    x = _unit(u * s**params.eig_power)
    if x.shape[1] > params.dim:
        # Johnson-Lindenstrauss: a random projection keeps cosines up to ~1/sqrt(dim) noise.
        gauss = np.random.default_rng([params.seed, 1]).standard_normal((x.shape[1], params.dim))
        x = _unit(x @ gauss)
    out[:, : x.shape[1]] = x
    return out, support


def _unit(x: npt.NDArray[np.floating]) -> Matrix:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _content(f: ItemFacts, dim: int) -> Matrix:
    return content_vector(f.item_type, f.destination, f.band, f.stars, f.attributes, dim)


def blend_content(
    ids: Sequence[str],
    learned: Matrix,
    support: FloatArr,
    facts: Mapping[str, ItemFacts],
    params: EmbeddingParams,
) -> tuple[Matrix, dict[str, int]]:
    """Final unit vectors: learned blended with content, cold items placed by their neighbours."""
    n, dim = len(ids), params.dim
    has = np.linalg.norm(learned, axis=1) > 0
    warm = has & (support >= params.min_count)
    info = [facts.get(i) for i in ids]
    content = np.zeros((n, dim), dtype=np.float32)
    for i, f in enumerate(info):
        if f is not None:
            content[i] = _content(f, dim)
    imputed = _impute(info, content, learned, warm, params.neighbours)
    # Partly observed items trust their own vector in proportion to their evidence.
    own = np.where(has, np.clip(support / max(params.min_count, 1e-12), 0.0, 1.0), 0.0)
    own[warm] = 1.0
    got = np.linalg.norm(imputed, axis=1) > 0
    share = np.where(got, own, 1.0)[:, None]
    eff = _unit(share * learned + (1.0 - share) * imputed)
    known = np.array([f is not None for f in info], dtype=bool)
    alpha = np.where(known, params.alpha, 1.0)[:, None]
    out = _unit(alpha * eff + (1.0 - alpha) * content)
    bare = np.linalg.norm(out, axis=1) == 0  # no facts and no evidence at all
    for i in np.flatnonzero(bare).tolist():
        out[i] = content_vector(None, None, None, None, None, dim)
    stats = {
        "items": n,
        "learned": int(warm.sum()),  # enough evidence of their own
        "partial": int((has & ~warm).sum()),  # some evidence, topped up from peers if any
        "imputed": int((~has & got).sum()),  # no evidence: placed among their peers
        "content_only": int((~has & ~got & known).sum()),  # no evidence and no peers
        "no_facts": int((~known).sum()),  # not in the catalog nor described by events
    }
    return out, stats


def _impute(
    info: Sequence[ItemFacts | None],
    content: Matrix,
    learned: Matrix,
    warm: npt.NDArray[np.bool_],
    k: int,
) -> Matrix:
    """For every non-warm item with facts: the mean learned vector of its k nearest warm peers.

    Peers share type, destination and band; when there are none, type and destination.
    Nearest is by content similarity (stars, cabin, ... break ties within a group).
    """
    out = np.zeros_like(learned)
    fine: dict[tuple[str | None, ...], list[int]] = {}
    coarse: dict[tuple[str | None, ...], list[int]] = {}
    for i in np.flatnonzero(warm).tolist():
        f = info[i]
        if f is not None:
            fine.setdefault((f.item_type, f.destination, f.band), []).append(i)
            coarse.setdefault((f.item_type, f.destination), []).append(i)
    # Cold items grouped by the peer list they draw from: one matrix product per group.
    todo: dict[tuple[str, str | None, str | None, str | None], tuple[list[int], list[int]]] = {}
    for i in np.flatnonzero(~warm).tolist():
        f = info[i]
        if f is None:
            continue
        key = ("fine", f.item_type, f.destination, f.band)
        peers = fine.get(key[1:]) if f.band else None
        if not peers:
            key = ("coarse", f.item_type, f.destination, None)
            peers = coarse.get(key[1:3])
        if peers:
            todo.setdefault(key, (peers, []))[1].append(i)
    for group, cold in todo.values():
        rows = np.asarray(group, dtype=np.int64)
        for start in range(0, len(cold), 1024):  # bounds the similarity block's memory
            part = cold[start : start + 1024]
            sims = content[part] @ content[rows].T
            nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            out[part] = learned[rows[nearest]].mean(axis=1)
    return out


def item_embeddings(
    sessions: Sequence[WeightedSession],
    facts: Mapping[str, ItemFacts],
    params: EmbeddingParams,
) -> ItemEmbeddings:
    """Vectors for every item in the sessions or in `facts`, ids sorted."""
    seen = {item for s in sessions for item in s.items}
    ids = sorted(seen | set(facts))
    learned, support = learn_vectors(sessions, ids, params)
    vectors, stats = blend_content(ids, learned, support, facts, params)
    return ItemEmbeddings(ids, vectors, support, stats)
