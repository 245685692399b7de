"""The published model as the recommender sees it: next-item rules and learned neighbours.

The model's item vectors live in their own index, separate from the catalog's content index.
User embeddings stay in the content space (workers build them from catalog vectors, so they
never mix two spaces across model versions); the learned space answers "what do people who
look at this item look at next", including for new items, which the trainer places near
their content look-alikes. Rules and index are swapped together, so a request never pairs
one version's rules with another version's neighbours.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from recommender.index import IndexParams, ItemIndex
from recommender.model import Model, ModelWatcher
from recommender.sessionrec import VSKNN, blend

log = logging.getLogger(__name__)
RULES_TABLE = "sr"


# Session kNN is the main session signal; the last item's sequential rules add the strict
# "what comes right after this" order that kNN, which looks at whole sessions, blurs.
RULES_WEIGHT = 0.3
BLEND_DEPTH = 100  # how deep each list is read before blending


@dataclass(frozen=True, slots=True)
class _Loaded:
    model: Model
    index: ItemIndex
    knn: VSKNN | None


def _prepare(model: Model, params: IndexParams | None) -> _Loaded:
    """Learned index and session kNN of a model (seconds at 1M items; run it off the loop)."""
    index = ItemIndex.build(list(model.ids), model.vectors, params)
    knn = model.sessions.knn(model.ids) if model.sessions is not None else None
    return _Loaded(model, index, knn)


class ModelView:
    """Session rules and learned neighbours of the model in use; empty before one exists."""

    def __init__(self, params: IndexParams | None = None) -> None:
        self.params = params
        self._loaded: _Loaded | None = None

    @classmethod
    def of(cls, model: Model, params: IndexParams | None = None) -> ModelView:
        """A view over `model`, built synchronously (tools and offline evaluation)."""
        view = cls(params)
        view._loaded = _prepare(model, params)
        return view

    async def install(self, model: Model) -> None:
        """Build the learned index off the event loop, then swap rules and index at once."""
        loaded = await asyncio.to_thread(_prepare, model, self.params)
        self._loaded = loaded
        # Session kNN holds millions of small lists that live until the next model: keep
        # them out of the cyclic collector, whose full passes would otherwise walk them all
        # and stall requests. The old model is still freed by reference counting.
        gc.freeze()
        sessions = len(model.sessions) if model.sessions is not None else 0
        log.info("model %s in use: %d items, %d sessions", model.version, len(model.ids), sessions)

    async def refresh(self, watcher: ModelWatcher) -> bool:
        """Poll once; install a newly published model. True when one was installed."""
        model = await watcher.poll()
        if model is None:
            return False
        await self.install(model)
        return True

    async def follow(self, watcher: ModelWatcher, interval_s: float) -> None:
        """Install every newly published model until cancelled (poll errors are outlived)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh(watcher)
            except (RedisError, OSError) as exc:
                log.warning("model poll failed: %s", exc)

    @property
    def version(self) -> str | None:
        """Version of the model in use, None before one is published."""
        return self._loaded.model.version if self._loaded is not None else None

    def session_items(self, recent: Sequence[str], n: int) -> list[tuple[str, float]]:
        """Best next items for a session (oldest first): session kNN blended with the rules
        of its last item, each list scaled to its own best score first."""
        loaded = self._loaded
        if loaded is None or not recent:
            return []
        depth = max(n, BLEND_DEPTH)
        rules = loaded.model.next_items(RULES_TABLE, [recent[-1]], depth)
        if loaded.knn is None:
            return [(str(i), s) for i, s in rules[:n]]
        knn = loaded.knn.scores(recent, depth)
        return [(str(i), s) for i, s in blend([knn, rules], [1.0, RULES_WEIGHT], n)]

    def neighbours(self, item_id: str, n: int) -> list[tuple[str, float]] | None:
        """Nearest items in the learned space; None when the model does not know the item."""
        loaded = self._loaded
        if loaded is None or item_id not in loaded.index:
            return None
        return loaded.index.similar(item_id, n)
