"""The neighbour cache must not make full GC passes walk it (tail latency)."""

from __future__ import annotations

import gc

import numpy as np

from loadtest.eval_live import StaticCatalog, TrainPopularity
from recommender.index import ItemIndex
from recommender.ranking import ItemMeta, RankWeights
from recommender.recommend import Recommender


class _NoProfiles:
    async def read_user(self, user_id: str) -> tuple[None, None]:
        return None, None


def test_cached_neighbours_are_reused_and_untracked_by_the_collector() -> None:
    ids = [f"h{i}" for i in range(20)]
    vecs = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    items = {i: ItemMeta(i, "hotel", "sanya", 500.0, None, 4, None) for i in ids}
    reco = Recommender(
        _NoProfiles(),
        StaticCatalog(items, ItemIndex.build(ids, vecs)),
        TrainPopularity([ids]),
        weights=RankWeights(),
        affinity_half_life_s=86_400.0,
    )
    first = reco._similar_cached("h0", now=0.0)
    assert len(first) == 10 and "h0" not in [i for i, _ in first]
    assert reco._similar_cached("h0", now=1.0) is first  # within the TTL: the same entry
    # CPython stops tracking a tuple once a collection finds only untracked members in it;
    # nested tuples take one pass per level. Lists would stay tracked for ever.
    gc.collect()
    gc.collect()
    assert not gc.is_tracked(first)
    assert reco._similar_cached("h0", now=3600.0) is not first  # expired: looked up again
