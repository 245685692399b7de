"""Next-item scorers over sessions of item ids: popularity, co-visitation, SR, V-SKNN, blend (pure).

Each scorer learns incrementally (`add_click` from a stream, `add_session` for a finished
session) and answers `scores(current_session, k)`: the top-k items with raw scores, best
first. Items a scorer has no evidence for are left out, so a list can be shorter than k.
SR and V-SKNN follow session-rec (rn5l/session-rec, `algorithms/baselines/sr.py` and
`algorithms/knn/vsknn.py`) so offline numbers can be compared with its published ones.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt

Item = str | int
SessionKey = Hashable
Scored = list[tuple[Item, float]]
IntVec = npt.NDArray[np.int64]
FloatVec = npt.NDArray[np.float64]

_by_score = itemgetter(1)

# Weight of a rule "a then b" by the gap (1 = b right after a), as in session-rec's SR.
GAP_WEIGHTS: dict[str, Callable[[int], float]] = {
    "same": lambda g: 1.0,
    "div": lambda g: 1.0 / g,
    "quadratic": lambda g: 1.0 / (g * g),
    "log": lambda g: 1.0 / math.log10(g + 1.7),
}
# Weight of the click at position i (1-based) of a session of n clicks, as in V-SKNN.
POSITION_WEIGHTS: dict[str, Callable[[int, int], float]] = {
    "same": lambda i, n: 1.0,
    "div": lambda i, n: i / n,
    "quadratic": lambda i, n: (i / n) ** 2,
    "log": lambda i, n: 1.0 / math.log10(n - i + 1.7),
}


class SessionScorer(Protocol):
    """What the evaluator and the stream need from a next-item scorer."""

    def add_click(self, session_id: SessionKey, item: Item, ts: float) -> None: ...

    def add_session(self, items: Sequence[Item], ts: float) -> None: ...

    def end_session(self, session_id: SessionKey) -> None: ...

    def scores(self, current_session: Sequence[Item], k: int) -> Scored: ...


def top_k(scores: Iterable[tuple[Item, float]], k: int) -> Scored:
    """The k best (item, score) pairs, best first; ties keep their input order."""
    return heapq.nlargest(k, scores, key=_by_score)


class Popularity:
    """Global click counts; the same list for every session."""

    def __init__(self) -> None:
        self.counts: dict[Item, int] = {}
        self._top: Scored = []
        self._fresh = True

    def add_click(self, session_id: SessionKey, item: Item, ts: float) -> None:
        """Count one click."""
        self.counts[item] = self.counts.get(item, 0) + 1
        self._fresh = False

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Count every click of a finished session."""
        for item in items:
            self.counts[item] = self.counts.get(item, 0) + 1
        self._fresh = False

    def end_session(self, session_id: SessionKey) -> None:
        """Nothing is kept per session."""

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """The k most clicked items."""
        if not self._fresh or len(self._top) < min(k, len(self.counts)):
            self._top = top_k(((i, float(c)) for i, c in self.counts.items()), max(k, 100))
            self._fresh = True
        return self._top[:k]


class SequentialRules:
    """Rules "a then b" weighted by the gap between them; predicts from the last click (SR)."""

    def __init__(self, steps: int = 10, weighting: str = "div") -> None:
        if steps < 1 or weighting not in GAP_WEIGHTS:
            raise ValueError(f"need steps >= 1 and weighting in {sorted(GAP_WEIGHTS)}")
        self.steps = steps
        self.weighting = weighting
        self._w = [GAP_WEIGHTS[weighting](g) for g in range(1, steps + 1)]
        self.rules: dict[Item, dict[Item, float]] = {}
        self._recent: dict[SessionKey, list[Item]] = {}

    def _learn(self, before: Sequence[Item], item: Item) -> None:
        for gap in range(1, min(len(before), self.steps) + 1):
            row = self.rules.setdefault(before[-gap], {})
            row[item] = row.get(item, 0.0) + self._w[gap - 1]

    def add_click(self, session_id: SessionKey, item: Item, ts: float) -> None:
        """Learn the rules ending at this click; remember it for the next ones."""
        recent = self._recent.setdefault(session_id, [])
        self._learn(recent, item)
        recent.append(item)
        if len(recent) > self.steps:
            del recent[0]

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Learn every rule of a finished session."""
        for pos in range(1, len(items)):
            self._learn(items[max(0, pos - self.steps) : pos], items[pos])

    def end_session(self, session_id: SessionKey) -> None:
        """Forget the session's recent clicks (its rules stay)."""
        self._recent.pop(session_id, None)

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """Rule weights from the session's last click."""
        if not current_session:
            return []
        return top_k(self.rules.get(current_session[-1], {}).items(), k)


class CoVisitation(SequentialRules):
    """Counts of "b clicked within `window` clicks after a"; predicts from the last click."""

    def __init__(self, window: int = 1) -> None:
        super().__init__(steps=window, weighting="same")


class VSKNN:
    """Vector multiplication session kNN (V-SKNN), after session-rec's `VMContextKNN`.

    Neighbours are the `sample_size` most recent sessions sharing an item with the current
    one, ranked by the sum of position weights of the shared items (recent clicks count
    more); the `k` most similar vote for their items with similarity x the step weight of
    the most recent shared click (every step weighting decreases with the step, so that is
    the largest one), boosted by `idf_weighting` x idf of the item.
    """

    def __init__(
        self,
        k: int = 500,
        sample_size: int = 5000,
        weighting: str = "quadratic",
        weighting_score: str = "div",
        idf_weighting: float = 5.0,
    ) -> None:
        if k < 1 or sample_size < 1:
            raise ValueError("need k >= 1 and sample_size >= 1")
        if weighting not in POSITION_WEIGHTS or weighting_score not in GAP_WEIGHTS:
            raise ValueError(
                f"weighting in {sorted(POSITION_WEIGHTS)}, weighting_score in {sorted(GAP_WEIGHTS)}"
            )
        self.k = k
        self.sample_size = sample_size
        self.weighting = weighting
        self.weighting_score = weighting_score
        self.idf_weighting = idf_weighting
        self._pos_w = POSITION_WEIGHTS[weighting]
        self._step_w = GAP_WEIGHTS[weighting_score]
        self._index: dict[Item, int] = {}
        self._items: list[Item] = []
        self._clicks = np.zeros(1024, dtype=np.float64)  # per item; idf counts clicks
        self._item_sessions: list[list[int]] = []
        self._item_arrays: dict[int, IntVec] = {}  # cache of _item_sessions as arrays
        self._session_items: list[list[int]] = []  # distinct items, first-click order
        self._time = np.zeros(1024, dtype=np.float64)  # last click time per session
        self._open: dict[SessionKey, tuple[int, set[int]]] = {}

    @property
    def n_sessions(self) -> int:
        """Sessions learnt so far (open ones included)."""
        return len(self._session_items)

    def _intern(self, item: Item) -> int:
        ix = self._index.get(item)
        if ix is None:
            ix = self._index[item] = len(self._items)
            self._items.append(item)
            self._item_sessions.append([])
            if ix == len(self._clicks):
                self._clicks = _grown(self._clicks)
        return ix

    def _new_session(self, ts: float) -> int:
        s = len(self._session_items)
        if s == len(self._time):
            self._time = _grown(self._time)
        self._time[s] = ts
        self._session_items.append([])
        return s

    def _add(self, s: int, seen: set[int], item: Item, ts: float) -> None:
        ix = self._intern(item)
        self._clicks[ix] += 1
        self._time[s] = max(self._time[s], ts)
        if ix not in seen:
            seen.add(ix)
            self._session_items[s].append(ix)
            self._item_sessions[ix].append(s)

    def add_click(self, session_id: SessionKey, item: Item, ts: float) -> None:
        """Add a click to a live session; the session is a neighbour candidate at once."""
        entry = self._open.get(session_id)
        if entry is None:
            entry = self._open[session_id] = (self._new_session(ts), set())
        self._add(entry[0], entry[1], item, ts)

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Add a finished session whose last click was at `ts`."""
        if items:
            s, seen = self._new_session(ts), set[int]()
            for item in items:
                self._add(s, seen, item, ts)

    def end_session(self, session_id: SessionKey) -> None:
        """Stop accepting clicks for a session (it stays a neighbour)."""
        self._open.pop(session_id, None)

    def _sessions_of(self, ix: int) -> IntVec:
        sessions = self._item_sessions[ix]
        arr = self._item_arrays.get(ix)
        if arr is None or len(arr) != len(sessions):
            arr = self._item_arrays[ix] = np.array(sessions, dtype=np.int64)
        return arr

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """Items of the nearest sessions, weighted by similarity, recency of match and idf."""
        n = len(current_session)
        weight: dict[int, float] = {}  # item -> weight of its last position
        step: dict[int, int] = {}  # item -> clicks from the end to its last position
        for pos, item in enumerate(current_session, 1):
            ix = self._index.get(item)
            if ix is not None:
                weight[ix], step[ix] = self._pos_w(pos, n), n - pos + 1
        if not weight or k < 1:
            return []
        shared = list(weight)
        arrays = [self._sessions_of(ix) for ix in shared]
        lens = [len(a) for a in arrays]
        cand, inv = np.unique(np.concatenate(arrays), return_inverse=True)
        sim = np.bincount(inv, weights=np.repeat([weight[i] for i in shared], lens))
        decay = np.zeros(len(cand))
        np.maximum.at(decay, inv, np.repeat([self._step_w(step[i]) for i in shared], lens))
        if len(cand) > self.sample_size:  # the most recent sessions only
            keep = np.argpartition(-self._time[cand], self.sample_size - 1)[: self.sample_size]
            cand, sim, decay = cand[keep], sim[keep], decay[keep]
        if len(cand) > self.k:
            keep = np.argpartition(-sim, self.k - 1)[: self.k]
            cand, sim, decay = cand[keep], sim[keep], decay[keep]
        vote = sim / len(weight) * decay
        groups = [self._session_items[s] for s in cand.tolist()]
        sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
        flat = np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=int(sizes.sum()))
        items, inv = np.unique(flat, return_inverse=True)
        score: FloatVec = np.bincount(inv, weights=np.repeat(vote, sizes)).astype(np.float64)
        if self.idf_weighting:
            idf = np.log(self.n_sessions / self._clicks[items])
            score *= 1.0 + self.idf_weighting * idf
        best = np.lexsort((items, -score))[:k]  # ties: lower internal id first
        ids, top = items[best].tolist(), score[best].tolist()
        return [(self._items[i], s) for i, s in zip(ids, top, strict=True)]


def _grown(a: FloatVec) -> FloatVec:
    """`a` with its capacity doubled (zeros appended)."""
    return np.concatenate([a, np.zeros_like(a)])


def blend(
    lists: Sequence[Sequence[tuple[Item, float]]], weights: Sequence[float], k: int
) -> Scored:
    """Weighted sum of score lists, each divided by its own maximum first."""
    total: dict[Item, float] = {}
    for scored, w in zip(lists, weights, strict=True):
        top = max((s for _, s in scored), default=0.0)
        if w == 0 or top <= 0:
            continue
        f = w / top
        for item, s in scored:
            total[item] = total.get(item, 0.0) + s * f
    return top_k(total.items(), k)


class Blend:
    """Several scorers combined by `blend`; updates go to every distinct part once."""

    def __init__(self, parts: Sequence[tuple[SessionScorer, float]], depth: int = 100) -> None:
        if not parts or depth < 1:
            raise ValueError("need at least one part and depth >= 1")
        self.parts = list(parts)
        self.depth = depth  # how deep each part's list is read
        self._distinct = list({id(p): p for p, _ in parts}.values())

    def add_click(self, session_id: SessionKey, item: Item, ts: float) -> None:
        """Forward a click to every part."""
        for p in self._distinct:
            p.add_click(session_id, item, ts)

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Forward a finished session to every part."""
        for p in self._distinct:
            p.add_session(items, ts)

    def end_session(self, session_id: SessionKey) -> None:
        """Forward the end of a session to every part."""
        for p in self._distinct:
            p.end_session(session_id)

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """The blended top-k."""
        depth = max(k, self.depth)
        lists = [p.scores(current_session, depth) for p, _ in self.parts]
        return blend(lists, [w for _, w in self.parts], k)
