"""Model sessions and the serving view: session kNN blended with rules, learned neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.model import Model, ModelError, NextItems, load, save
from recommender.model_sessions import Sessions
from recommender.model_view import ModelView
from recommender.sessionrec import VSKNN, SequentialRules

IDS = ["a", "b", "c", "d", "e"]
SESSIONS = [["a", "b", "c"], ["a", "b", "d"], ["c", "d", "e"], ["a", "c", "e"], ["b", "d", "e"]]
INDEX = {item: i for i, item in enumerate(IDS)}


def make_model(with_sessions: bool = True) -> Model:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((len(IDS), 8)).astype(np.float32)
    vecs[1] = vecs[0] + 0.01  # b sits next to a in the learned space
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sr = SequentialRules(steps=3)
    for s in SESSIONS:
        sr.add_session(s, 0.0)
    tables = {"sr": NextItems.from_rules(sr.rules, INDEX, 10)}
    sessions = Sessions.from_lists(SESSIONS, INDEX, keep=100) if with_sessions else None
    return Model.create(IDS, vecs, tables, {}, created_at=1_767_225_600.0, sessions=sessions)


def test_sessions_keep_the_most_recent_and_drop_unknown_items() -> None:
    s = Sessions.from_lists([["a", "x"], ["b", "c"], ["zz"], ["d"]], INDEX, keep=3)
    assert len(s) == 2  # ["a", "x"] is older than the last 3; ["zz"] has no known item
    assert s.indptr.tolist() == [0, 2, 3]
    assert s.items.tolist() == [1, 2, 3]
    assert len(Sessions.from_lists(SESSIONS, INDEX, keep=0)) == 0


def test_sessions_round_trip_with_the_model_and_change_its_version(tmp_path: Path) -> None:
    m = make_model()
    assert m.version != make_model(with_sessions=False).version
    back = load(save(m, tmp_path))
    assert back.sessions is not None and m.sessions is not None
    assert np.array_equal(back.sessions.indptr, m.sessions.indptr)
    assert np.array_equal(back.sessions.items, m.sessions.items)
    assert load(save(make_model(with_sessions=False), tmp_path / "n")).sessions is None


def test_sessions_that_do_not_match_the_items_are_rejected(tmp_path: Path) -> None:
    path = save(make_model(), tmp_path)
    np.savez(path / "sessions.npz", indptr=np.array([0, 1]), items=np.array([99], np.int32))
    with pytest.raises(ModelError, match="sessions"):
        load(path)


def test_session_knn_from_the_model_scores_like_one_fitted_on_the_sessions() -> None:
    m = make_model()
    assert m.sessions is not None
    fitted = VSKNN(k=500, sample_size=5000, weighting="quadratic", weighting_score="div")
    for n, s in enumerate(SESSIONS):
        fitted.add_session(s, float(n))
    got, want = m.sessions.knn(m.ids).scores(["a", "b"], 5), fitted.scores(["a", "b"], 5)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_view_is_empty_until_a_model_is_installed() -> None:
    view = ModelView()
    assert view.version is None
    assert view.session_items(["a"], 5) == []
    assert view.neighbours("a", 3) is None


def test_session_items_blend_knn_with_the_rules_of_the_last_item() -> None:
    m = make_model()
    view = ModelView.of(m)
    assert view.version == m.version
    got = dict(view.session_items(["a", "b"], 10))
    # d follows b in two sessions, c in one: kNN and b's rules both prefer d.
    assert got["d"] > got["c"] > 0
    assert got["d"] > got["e"]
    assert view.session_items([], 5) == []
    # Without shipped sessions only the rules speak.
    rules_only = ModelView.of(make_model(with_sessions=False))
    assert rules_only.session_items(["a", "b"], 3) == [
        (i, s) for i, s in m.next_items("sr", ["b"], 3)
    ]


def test_neighbours_come_from_the_learned_vectors() -> None:
    view = ModelView.of(make_model())
    hits = view.neighbours("a", 2)
    assert hits is not None and hits[0][0] == "b"
    assert view.neighbours("unknown", 2) is None
