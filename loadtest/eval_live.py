"""The serving path as an offline next-item scorer: model "live" of `loadtest eval`.

What runs is the code the product runs, minus the network:
- the model comes from the trainer's `fit_sessions` on the train sessions, and is served
  through `ModelView` (sequential rules plus the learned-vector index), as the API does;
- catalog items go through `catalog_upsert` (content vectors, price bands) into the content
  index and `ItemMeta`, as the worker and the API's catalog view do;
- each test prefix's clicks become touches through the worker's `ItemResolver` and update a
  profile with `apply_touches`; the offers come from `Recommender.for_profile`, the call the
  API makes once it has read the profile;
- popularity is the train clicks' counts, standing in for the worker's daily counters.

The real datasets have no item content (types, destinations, prices), so their items carry
a zero content vector and no facets: user taste vectors stay empty, as they would for a
catalog without content, and the signal is the model's. The synthetic world has a full
catalog and uses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import orjson

from recommender.catalog import ItemResolver, catalog_upsert
from recommender.catalog_view import item_meta
from recommender.embeddings import EmbeddingParams, ItemFacts, WeightedSession
from recommender.features import ItemInfo, price_band
from recommender.index import ItemIndex
from recommender.model import Model
from recommender.model_view import ModelView
from recommender.params import profile_params
from recommender.profile import Profile, Touch, apply_touches
from recommender.ranking import ItemMeta, RankRequest, RankWeights
from recommender.recommend import Recommender
from recommender.sessionrec import Item, Scored
from recommender.settings import Settings
from recommender.store import StoredItem
from recommender.train import TrainParams, fit_sessions
from schemas import decode_catalog_item

CLICK_GAP_S = 60.0  # the datasets' prefixes carry no times; one click a minute
EVAL_USER = "eval-user"
T = TypeVar("T")


def _complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits: every source here is in memory, so no event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coro.close()
    raise RuntimeError("the serving path waited on I/O during offline evaluation")


class StaticCatalog:
    """A catalog that does not change during the run (CatalogView's read side)."""

    def __init__(self, items: Mapping[str, ItemMeta], index: ItemIndex) -> None:
        self._items = dict(items)
        self._index = index

    @property
    def items(self) -> Mapping[str, ItemMeta]:
        """Metadata by item id."""
        return self._items

    @property
    def index(self) -> ItemIndex:
        """Content vectors of the active items."""
        return self._index

    @property
    def loaded(self) -> bool:
        """Always: it was built before the first request."""
        return True


class TrainPopularity:
    """Click counts over the train sessions, the same list for every market."""

    def __init__(self, sessions: Sequence[Sequence[Item]], top: int = 100) -> None:
        counts = Counter(str(i) for s in sessions for i in s)
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        peak = best[0][1] if best else 1
        self._top = [(i, c / peak) for i, c in best]

    async def top(
        self, market: str, days: int, decay: float, now: float
    ) -> list[tuple[str, float]]:
        """The train's most clicked items, scores in 0..1."""
        return self._top


class _NoProfiles:
    async def read_user(self, user_id: str) -> tuple[Profile | None, bytes | None]:
        return None, None  # for_profile is called with the profile at hand; never read


class LiveScorer:
    """Fit on train sessions, then score prefixes through the serving path.

    Only finished train sessions are learnt (`add_session`): the model is trained in batches
    by the trainer, as in production, not click by click.
    """

    def __init__(
        self,
        catalog: Sequence[Mapping[str, Any]] | None = None,
        settings: Settings | None = None,
        *,
        now: float = 1_800_000_000.0,
    ) -> None:
        self.settings = settings or Settings()
        self.now = now
        self._sessions: list[list[Item]] = []
        self._raw_catalog = list(catalog or ())
        self._reco: Recommender | None = None
        self._resolver: ItemResolver | None = None
        self.model: Model | None = None
        self._original: dict[str, Item] = {}

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Collect a train session; the model is fit on the first prediction."""
        self._sessions.append(list(items))
        for i in items:
            self._original.setdefault(str(i), i)  # datasets may use int ids; served ids are str

    def _stored(self) -> dict[str, StoredItem]:
        s = self.settings
        out: dict[str, StoredItem] = {}
        for raw in self._raw_catalog:
            item = decode_catalog_item(orjson.dumps({"v": 1, "updated_at": self.now, **raw}))
            st = catalog_upsert(item, None, dim=s.vector_dim, rates=s.fx_rates)
            if st is not None:
                out[str(raw["item_id"])] = st
        return out

    def _build(self) -> Recommender:
        s = self.settings
        stored = self._stored()
        facts = {
            i: ItemFacts(
                st.meta.get("item_type"),
                st.meta.get("destination"),
                st.meta.get("band"),
                st.meta.get("stars"),
                st.meta.get("attributes"),
            )
            for i, st in stored.items()
        }
        params = TrainParams(embedding=EmbeddingParams(dim=s.vector_dim), window_days=0)
        weighted = [WeightedSession([str(i) for i in x], [1.0] * len(x)) for x in self._sessions]
        items = [[str(i) for i in x] for x in self._sessions]
        self.model = fit_sessions(items, weighted, facts, params, now=self.now)
        metas: dict[str, ItemMeta] = {i: item_meta(st.meta) for i, st in stored.items()}
        for i in self.model.ids:  # datasets without a catalog: bare items, no content
            metas.setdefault(i, ItemMeta(i, "", "", None, None, None, None))
        ids = [i for i, st in stored.items() if st.vector is not None]
        matrix = np.asarray(
            [np.frombuffer(stored[i].vector or b"", dtype="<f4") for i in ids], np.float32
        ).reshape(len(ids), s.vector_dim)
        index = ItemIndex.build(ids, matrix)
        self._resolver = ItemResolver(stored, dim=s.vector_dim, rates=s.fx_rates)
        return Recommender(
            _NoProfiles(),
            StaticCatalog(metas, index),
            TrainPopularity(self._sessions),
            weights=RankWeights(
                **__import__("orjson").loads(__import__("os").environ.get("RW", "{}"))
            ),
            affinity_half_life_s=s.affinity_half_life_s,
            model=ModelView.of(self.model),
        )

    def prepare(self) -> None:
        """Train the model and build the serving objects (else done on the first prediction)."""
        if self._reco is None:
            self._reco = self._build()

    def _touch(self, item: str, ts: float) -> Touch:
        assert self._resolver is not None
        st = self._resolver.stored(item)
        if st is None:  # no content known: no vector, no facets
            info = ItemInfo(
                item, "", "", None, None, np.zeros(self.settings.vector_dim, np.float32), False
            )
            return Touch(EVAL_USER, ts, "view", info)
        info = self._resolver.info(item, None, None, None)
        band = price_band(info.item_type, st.meta.get("price_base"))
        return Touch(EVAL_USER, ts, "view", info, info.destination, info.item_type, band)

    def profile(self, current_session: Sequence[Item]) -> Profile:
        """The profile the worker would hold after these clicks, one a minute up to `now`."""
        self.prepare()
        start = self.now - CLICK_GAP_S * len(current_session)
        touches = [
            self._touch(str(item), start + CLICK_GAP_S * (n + 1))
            for n, item in enumerate(current_session)
        ]
        params = profile_params(self.settings)
        return apply_touches({}, touches, params)[EVAL_USER]

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """The API's offers for a user whose session so far is `current_session`."""
        p = self.profile(current_session)
        assert self._reco is not None
        result = _complete(self._reco.for_profile(p, RankRequest(k=k), now=self.now))
        return [(self._original.get(r.item_id, r.item_id), r.score) for r in result.items]
