"""Offline next-item evaluation, session-rec's protocol (`evaluation/evaluation.py`).

Fit on the train sessions. For every test session and every prefix of i >= 1 clicks, the
model ranks train items and the (i+1)-th click is the target: HR@K (target in the top K),
MRR@K (1/rank, 0 beyond K), NDCG@K (1/log2(rank + 1), 0 beyond K; session-rec's own NDCG
scores rank 2 like rank 1) and catalog coverage@20 (distinct recommended / train items).
Blend weights are chosen on a validation split carved from the end of train, never on test.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from loadtest.datasets import Dataset, Session, restrict_to_train
from loadtest.eval_live import LiveScorer
from recommender.sessionrec import (
    VSKNN,
    Blend,
    CoVisitation,
    Item,
    Popularity,
    Scored,
    SequentialRules,
    SessionScorer,
)

KS = (10, 20)
COVERAGE_K = 20
MODELS = ("pop", "covisit", "sr", "vsknn", "blend", "live")
# session-rec's parameters for the reference run (conf/example_next.yml).
PARAMS: dict[str, dict[str, Any]] = {
    "pop": {},
    "live": {},  # the serving path; its constants are the product's settings
    "covisit": {"window": 1},
    "sr": {"steps": 20, "weighting": "quadratic"},
    "vsknn": {
        "k": 500,
        "sample_size": 5000,
        "weighting": "quadratic",
        "weighting_score": "div",
        "idf_weighting": 5.0,
    },
}
BLEND_PARTS = ("vsknn", "sr", "covisit", "pop")
BLEND_DEPTH = 100
# Weights relative to V-SKNN's 1.0, searched on the validation split.
BLEND_GRID: dict[str, tuple[float, ...]] = {
    "sr": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5),
    "covisit": (0.0, 0.05, 0.1, 0.25, 0.5),
    "pop": (0.0, 0.002, 0.01, 0.05),
}
VALIDATION_SHARE = 0.2  # of train sessions, the most recent ones
# session-rec's numbers on the YOOCHOOSE split (shared/datasets/yoochoose-100k/README.md).
REFERENCE = {
    "yoochoose": {
        "pop": {"HR@20": 0.0899, "MRR@20": 0.0177, "HR@10": 0.0548},
        "sr": {"HR@20": 0.5650, "MRR@20": 0.3241, "HR@10": 0.5155},
        "ar": {"HR@20": 0.5809, "MRR@20": 0.3056, "HR@10": 0.5174},
        "vsknn": {"HR@20": 0.6481, "MRR@20": 0.3597, "HR@10": 0.5865},
    }
}

Clock = Callable[[], float]


def rank_of(ranked: Sequence[Item], target: Item) -> int | None:
    """1-based position of `target` in `ranked`, None if absent."""
    for n, item in enumerate(ranked, 1):
        if item == target:
            return n
    return None


@dataclass(slots=True)
class Metrics:
    """Accumulates HR/MRR/NDCG@K, the HR@K and MRR@K curves and coverage over predictions."""

    ks: tuple[int, ...] = KS
    predictions: int = 0
    at_rank: list[int] = field(default_factory=list)  # at_rank[r - 1]: hits at rank r
    covered: set[Item] = field(default_factory=set)

    def add(self, ranked: Sequence[Item], target: Item) -> None:
        """Score one ranked list (best first) against the true next item."""
        depth = max(self.ks)
        if not self.at_rank:
            self.at_rank = [0] * depth
        self.predictions += 1
        self.covered.update(ranked[:COVERAGE_K])
        rank = rank_of(ranked[:depth], target)
        if rank is not None:
            self.at_rank[rank - 1] += 1

    def curves(self) -> dict[str, list[float]]:
        """HR@K and MRR@K for K = 1 .. max(ks)."""
        n = max(self.predictions, 1)
        counts = self.at_rank or [0] * max(self.ks)
        hr, mrr, h, r = [], [], 0, 0.0
        for rank, c in enumerate(counts, 1):
            h, r = h + c, r + c / rank
            hr.append(h / n)
            mrr.append(r / n)
        return {"HR": hr, "MRR": mrr}

    def result(self, n_items: int) -> dict[str, float]:
        """Averages per prediction, plus coverage@20 of `n_items` train items."""
        n = max(self.predictions, 1)
        counts = self.at_rank or [0] * max(self.ks)
        out: dict[str, float] = {}
        for k in self.ks:
            out[f"HR@{k}"] = sum(counts[:k]) / n
            out[f"MRR@{k}"] = sum(c / r for r, c in enumerate(counts[:k], 1)) / n
            out[f"NDCG@{k}"] = sum(c / math.log2(r + 1) for r, c in enumerate(counts[:k], 1)) / n
        out[f"coverage@{COVERAGE_K}"] = len(self.covered) / max(n_items, 1)
        return out


def predictions(test: Sequence[Session]) -> Iterator[tuple[list[Item], Item]]:
    """(prefix of i >= 1 clicks, click i+1) for every position of every test session."""
    for s in test:
        for i in range(1, len(s.items)):
            yield s.items[:i], s.items[i]


def build(name: str, params: Mapping[str, Any] | None = None) -> SessionScorer:
    """A fresh, empty scorer by name ("blend" is built by `fit_models`)."""
    p = dict(PARAMS.get(name, {}) if params is None else params)
    if name == "pop":
        return Popularity()
    if name == "covisit":
        return CoVisitation(**p)
    if name == "sr":
        return SequentialRules(**p)
    if name == "vsknn":
        return VSKNN(**p)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


class OfflineModel(Protocol):
    """What the protocol needs of a model: learn finished sessions, rank a prefix."""

    def add_session(self, items: Sequence[Item], ts: float) -> None:
        """Learn one finished session."""
        ...

    def scores(self, current_session: Sequence[Item], k: int) -> Scored:
        """The k best next items after the prefix."""
        ...


def fit(model: OfflineModel, train: Sequence[Session]) -> None:
    """Learn every train session, in time order."""
    for s in train:
        model.add_session(s.items, s.end)


def evaluate_model(
    model: OfflineModel, test: Sequence[Session], n_items: int, clock: Clock = time.perf_counter
) -> dict[str, Any]:
    """Run the protocol for one fitted model."""
    m, t0 = Metrics(), clock()
    k = max(KS)
    for prefix, target in predictions(test):
        m.add([item for item, _ in model.scores(prefix, k)], target)
    seconds = clock() - t0
    return {
        **m.result(n_items),
        "predictions": m.predictions,
        "predict_s": round(seconds, 3),
        "curves": m.curves(),
    }


def carve_validation(
    train: Sequence[Session], share: float = VALIDATION_SHARE
) -> tuple[list[Session], list[Session]]:
    """The most recent `share` of train sessions as validation, limited to earlier items."""
    cut = len(train) - round(share * len(train))
    head = list(train[:cut])
    return head, restrict_to_train(head, train[cut:])


def choose_blend_weights(
    train: Sequence[Session], grid: Mapping[str, Sequence[float]] = BLEND_GRID
) -> dict[str, Any]:
    """Grid-search blend weights (V-SKNN fixed at 1) for HR@20 on a validation split of train."""
    head, valid = carve_validation(train)
    parts = {name: build(name) for name in BLEND_PARTS}
    for model in parts.values():
        fit(model, head)
    combos = _grid(grid)
    names = list(BLEND_PARTS)
    weights = np.array([[c.get(n, 1.0) for c in combos] for n in names])  # parts x combos
    k = max(KS)
    hits = np.zeros(len(combos))
    rr = np.zeros(len(combos))
    n_pred = 0
    for prefix, target in predictions(valid):
        n_pred += 1
        lists = [parts[n].scores(prefix, BLEND_DEPTH) for n in names]
        rank = _blend_ranks(lists, weights, target)
        ok = rank <= k
        hits += ok
        rr += np.where(ok, 1.0 / rank, 0.0)
    n = max(n_pred, 1)
    best = max(range(len(combos)), key=lambda c: (hits[c], rr[c]))
    return {
        "weights": {"vsknn": 1.0, **combos[best]},
        "chosen_on": f"last {VALIDATION_SHARE:.0%} of train sessions, models fit on the rest",
        "validation": {
            "train_sessions": len(head),
            "sessions": len(valid),
            "predictions": n_pred,
            "HR@20": float(hits[best] / n),
            "MRR@20": float(rr[best] / n),
            "vsknn_alone_HR@20": float(hits[0] / n),
            "grid_size": len(combos),
        },
    }


def _grid(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    combos: list[dict[str, float]] = [{}]
    for name, values in grid.items():
        combos = [{**c, name: v} for c in combos for v in values]
    return combos  # the first one is all zeros (V-SKNN alone) when every grid starts at 0


def _blend_ranks(lists: Sequence[Scored], weights: np.ndarray[Any, Any], target: Item) -> Any:
    """Rank of `target` under every weight column at once (inf when not scored)."""
    index: dict[Item, int] = {}
    for scored in lists:
        for item, _ in scored:
            index.setdefault(item, len(index))
    t = index.get(target)
    if t is None:
        return np.full(weights.shape[1], np.inf)
    m = np.zeros((len(index), len(lists)))
    for j, scored in enumerate(lists):
        if scored:
            top = max(s for _, s in scored)
            for item, s in scored:
                m[index[item], j] = s / top if top > 0 else 0.0
    blended = m @ weights
    rank = (blended > blended[t]).sum(axis=0) + 1.0
    return np.where(blended[t] > 0, rank, np.inf)


def run(
    dataset: Dataset, models: Sequence[str] = MODELS, clock: Clock = time.perf_counter
) -> dict[str, Any]:
    """Evaluate `models` on a dataset; metrics, timings and stats as a JSON-able dict."""
    t_start = clock()
    train, test = dataset.train, dataset.test
    n_items = len({i for s in train for i in s.items})
    fitted: dict[str, SessionScorer] = {}
    fit_s: dict[str, float] = {}

    def get(name: str) -> SessionScorer:
        if name not in fitted:
            t0 = clock()
            fitted[name] = build(name)
            fit(fitted[name], train)
            fit_s[name] = round(clock() - t0, 3)
        return fitted[name]

    results: dict[str, Any] = {}
    blend_info: dict[str, Any] | None = None
    for name in models:
        if name == "blend":
            t0 = clock()
            blend_info = choose_blend_weights(train)
            choose_s = round(clock() - t0, 3)
            w = blend_info["weights"]
            model: OfflineModel = Blend([(get(n), w[n]) for n in BLEND_PARTS], BLEND_DEPTH)
            params: dict[str, Any] = {"weights": w, "depth": BLEND_DEPTH}
            fit_parts = round(sum(fit_s[n] for n in BLEND_PARTS), 3)
            timing = {"fit_s": fit_parts, "choose_weights_s": choose_s}
        elif name == "live":
            t0 = clock()
            live = LiveScorer(dataset.catalog)
            fit(live, train)
            live.prepare()  # the trainer's fit, timed as fitting
            model, params = live, PARAMS[name]
            timing = {"fit_s": round(clock() - t0, 3)}
        else:
            model, params, timing = get(name), PARAMS[name], {"fit_s": fit_s[name]}
        results[name] = {
            "params": params,
            **evaluate_model(model, test, n_items, clock),
            **timing,
        }
    out: dict[str, Any] = {
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "train_sessions": len(train),
            "train_clicks": sum(len(s.items) for s in train),
            "train_items": n_items,
            "test_sessions": len(test),
            "test_clicks": sum(len(s.items) for s in test),
            "predictions": sum(len(s.items) - 1 for s in test),
        },
        "protocol": __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
        "models": results,
        "reference": REFERENCE.get(dataset.name, {}),
        "total_s": round(clock() - t_start, 3),
    }
    if blend_info is not None:
        out["blend"] = blend_info
    return out
