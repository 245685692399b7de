"""Next-item scorers on tiny sessions whose answers are worked out by hand."""

from __future__ import annotations

import math

import pytest

from recommender.sessionrec import (
    VSKNN,
    Blend,
    CoVisitation,
    Popularity,
    SequentialRules,
    blend,
)


def as_dict(scored: list[tuple[str | int, float]]) -> dict[str | int, float]:
    return dict(scored)


def test_popularity_counts_every_click_and_ranks_by_count() -> None:
    pop = Popularity()
    pop.add_session(["a", "b", "a"], 1.0)
    pop.add_click("s", "c", 2.0)
    pop.add_click("s", "a", 2.0)
    assert pop.scores(["zzz"], 2) == [("a", 3.0), ("b", 1.0)]
    pop.add_session(["c", "c", "c"], 3.0)  # the cached list is refreshed
    assert pop.scores([], 1) == [("c", 4.0)]


def test_covisitation_counts_direct_successors_of_the_last_click() -> None:
    cv = CoVisitation()
    for s in (["a", "b", "c"], ["a", "b"], ["a", "c"], ["b", "a"]):
        cv.add_session(s, 0.0)
    # a->b twice, a->c once, b->c once, b->a once; nothing two steps apart
    assert cv.scores(["x", "a"], 10) == [("b", 2.0), ("c", 1.0)]
    assert as_dict(cv.scores(["b"], 10)) == {"c": 1.0, "a": 1.0}
    assert cv.scores(["c"], 10) == []
    assert cv.scores([], 10) == []


def test_sequential_rules_weigh_a_rule_by_one_over_the_gap() -> None:
    sr = SequentialRules(steps=10, weighting="div")
    sr.add_session(["a", "b", "c", "d"], 0.0)
    assert sr.scores(["a"], 10) == [("b", 1.0), ("c", 0.5), ("d", pytest.approx(1 / 3))]
    sr.add_session(["a", "d"], 0.0)
    assert sr.scores(["a"], 10) == [("d", pytest.approx(4 / 3)), ("b", 1.0), ("c", 0.5)]
    # prediction uses the last click only
    assert sr.scores(["a", "c"], 10) == [("d", 1.0)]
    assert sr.scores(["a", "b"], 1) == [("c", 1.0)]


def test_sequential_rules_respect_steps_and_quadratic_weighting() -> None:
    short = SequentialRules(steps=2, weighting="div")
    short.add_session(["a", "b", "c", "d"], 0.0)
    assert short.scores(["a"], 10) == [("b", 1.0), ("c", 0.5)]  # d is 3 steps away
    quad = SequentialRules(steps=3, weighting="quadratic")
    quad.add_session(["a", "b", "c", "d"], 0.0)
    assert quad.scores(["a"], 10) == [("b", 1.0), ("c", 0.25), ("d", pytest.approx(1 / 9))]


def test_sequential_rules_from_interleaved_clicks_equal_whole_sessions() -> None:
    sessions = {"s1": ["a", "b", "a", "c", "d"], "s2": ["b", "c", "b", "b"]}
    batch = SequentialRules(steps=3)
    for items in sessions.values():
        batch.add_session(items, 0.0)
    stream = SequentialRules(steps=3)
    for n in range(5):
        for sid, items in sessions.items():
            if n < len(items):
                stream.add_click(sid, items[n], float(n))
    assert stream.rules == batch.rules
    stream.end_session("s1")
    stream.add_click("s1", "z", 9.0)  # a new session under the same id learns nothing yet
    assert "z" not in {i for row in stream.rules.values() for i in row}


def test_vsknn_weights_positions_steps_and_sums_neighbour_votes() -> None:
    knn = VSKNN(k=10, sample_size=10, weighting="quadratic", weighting_score="div", idf_weighting=0)
    knn.add_session(["a", "b"], 1.0)  # s1
    knn.add_session(["x", "c"], 2.0)  # s2
    knn.add_session(["x", "a", "e"], 3.0)  # s3
    # query [x, a]: weights x (1/2)^2 = 0.25, a 1; steps x 2, a 1; divided by 2 distinct items
    # s1 sim 1/2, decay 1 -> 0.5; s2 sim 0.25/2, decay 1/2 -> 0.0625; s3 sim 1.25/2 -> 0.625
    got = knn.scores(["x", "a"], 10)
    assert [i for i, _ in got] == ["a", "x", "e", "b", "c"]
    assert as_dict(got) == pytest.approx(
        {"a": 1.125, "x": 0.6875, "e": 0.625, "b": 0.5, "c": 0.0625}
    )


def test_vsknn_recommends_the_item_that_followed_in_the_neighbour() -> None:
    knn = VSKNN(idf_weighting=0)
    knn.add_session(["beach-hotel", "snorkel-tour"], 1.0)
    knn.add_session(["ski-lodge", "ski-pass"], 2.0)
    items = [i for i, _ in knn.scores(["beach-hotel"], 5)]
    assert "snorkel-tour" in items and "ski-pass" not in items
    assert knn.scores(["unknown"], 5) == []
    assert knn.scores([], 5) == []


def test_vsknn_samples_the_most_recent_sessions_and_keeps_the_k_most_similar() -> None:
    recent = VSKNN(k=10, sample_size=1, idf_weighting=0)
    recent.add_session(["a", "old"], 1.0)
    recent.add_session(["a", "new"], 5.0)
    assert {i for i, _ in recent.scores(["a"], 10)} == {"a", "new"}
    nearest = VSKNN(k=1, sample_size=10, idf_weighting=0)
    nearest.add_session(["a", "b", "one"], 9.0)  # shares a and b with the query
    nearest.add_session(["b", "two"], 1.0)  # shares only b
    nearest.add_session(["a", "three"], 1.0)  # shares only a
    assert {i for i, _ in nearest.scores(["a", "b"], 10)} == {"a", "b", "one"}


def test_vsknn_idf_boosts_rare_items() -> None:
    knn = VSKNN(idf_weighting=1.0)
    knn.add_session(["a", "b"], 1.0)
    knn.add_session(["a", "c"], 2.0)
    # query [b]: one neighbour (s1) with vote 1; a clicked twice in 2 sessions -> idf 0
    assert as_dict(knn.scores(["b"], 5)) == pytest.approx({"b": 1 + math.log(2), "a": 1.0})


def test_vsknn_from_clicks_equals_whole_sessions() -> None:
    batch, stream = VSKNN(k=5, sample_size=5), VSKNN(k=5, sample_size=5)
    sessions = {"s1": ["a", "b", "a", "c"], "s2": ["b", "d"], "s3": ["c", "a", "e"]}
    for n, items in enumerate(sessions.values()):
        batch.add_session(items, float(n))
    for n, (sid, items) in enumerate(sessions.items()):
        for item in items:
            stream.add_click(sid, item, float(n))
        stream.end_session(sid)
    for query in (["a"], ["b", "c"], ["e", "a", "d"]):
        assert stream.scores(query, 10) == batch.scores(query, 10)


def test_blend_divides_each_list_by_its_maximum_before_weighting() -> None:
    first = [("a", 2.0), ("b", 1.0)]
    second = [("b", 10.0), ("c", 5.0)]
    # a 2/2 = 1; b 1/2 + 10/10 = 1.5; c 5/10 = 0.5
    assert blend([first, second], [1.0, 1.0], 10) == [("b", 1.5), ("a", 1.0), ("c", 0.5)]
    # b 0.5 + 0.25 * 1 = 0.75, c 0.25 * 0.5 = 0.125
    assert blend([first, second], [1.0, 0.25], 2) == [("a", 1.0), ("b", 0.75)]
    assert blend([first, second], [0.0, 2.0], 10) == [("b", 2.0), ("c", 1.0)]
    assert blend([[], second], [1.0, 1.0], 10) == [("b", 1.0), ("c", 0.5)]
    with pytest.raises(ValueError):
        blend([first], [1.0, 1.0], 10)


def test_blend_reads_deep_lists_and_updates_each_part_once() -> None:
    pop, sr = Popularity(), SequentialRules()
    both = Blend([(sr, 1.0), (pop, 0.1), (sr, 0.0)], depth=50)
    both.add_session(["a", "b"], 1.0)
    both.add_click("s", "a", 2.0)
    both.add_click("s", "c", 3.0)
    both.end_session("s")
    assert pop.counts == {"a": 2, "b": 1, "c": 1}
    assert sr.rules == {"a": {"b": 1.0, "c": 1.0}}
    # sr from a: b 1, c 1; pop: a 1.0 (2/2), b 0.5, c 0.5 -> times 0.1
    got = both.scores(["a"], 3)
    assert [i for i, _ in got] == ["b", "c", "a"]
    assert [s for _, s in got] == pytest.approx([1.05, 1.05, 0.1])


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        SequentialRules(steps=0)
    with pytest.raises(ValueError):
        SequentialRules(weighting="cubic")
    with pytest.raises(ValueError):
        VSKNN(k=0)
    with pytest.raises(ValueError):
        VSKNN(weighting_score="nope")
    with pytest.raises(ValueError):
        Blend([])
