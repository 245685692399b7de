"""Offline evaluation: exact metrics on hand-made rankings, prediction counts, splits, CLI."""

from __future__ import annotations

import argparse
import math
from collections.abc import Hashable, Sequence
from pathlib import Path

import pytest

from loadtest import datasets, eval_cli, evaluate
from loadtest.datasets import Dataset, Session, restrict_to_train
from loadtest.evaluate import Metrics, predictions, rank_of
from recommender.sessionrec import Item

RANKED = [f"i{n}" for n in range(1, 21)]  # i1 .. i20


def test_rank_of_is_one_based_and_none_when_absent() -> None:
    assert rank_of(["a", "b", "c"], "a") == 1
    assert rank_of(["a", "b", "c"], "c") == 3
    assert rank_of(["a", "b", "c"], "z") is None
    assert rank_of([], "z") is None


def test_metrics_exact_values() -> None:
    m = Metrics()
    m.add(RANKED, "i1")  # rank 1
    m.add(RANKED, "i3")  # rank 3
    m.add(RANKED, "i15")  # rank 15: a hit at 20 only
    m.add(RANKED, "nope")  # miss
    r = m.result(n_items=80)
    assert m.predictions == 4
    assert r["HR@10"] == pytest.approx(2 / 4)
    assert r["HR@20"] == pytest.approx(3 / 4)
    assert r["MRR@10"] == pytest.approx((1 + 1 / 3) / 4)
    assert r["MRR@20"] == pytest.approx((1 + 1 / 3 + 1 / 15) / 4)
    assert r["NDCG@10"] == pytest.approx((1 + 1 / 2) / 4)  # 1/log2(1+1), 1/log2(3+1)
    assert r["NDCG@20"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 4)  # + 1/log2(15+1)
    assert r["coverage@20"] == pytest.approx(20 / 80)
    curves = m.curves()
    assert curves["HR"][0] == pytest.approx(1 / 4)
    assert curves["HR"][2] == pytest.approx(2 / 4)
    assert curves["HR"][19] == pytest.approx(r["HR@20"])
    assert curves["MRR"][9] == pytest.approx(r["MRR@10"])


def test_metrics_only_look_at_the_top_20_and_count_coverage_over_all_lists() -> None:
    m = Metrics()
    m.add([*RANKED, "deep"], "deep")  # rank 21: no hit
    m.add(["x", "y"], "y")
    r = m.result(n_items=44)
    assert r["HR@20"] == pytest.approx(1 / 2)
    assert r["MRR@20"] == pytest.approx(1 / 4)
    assert r["NDCG@20"] == pytest.approx(1 / math.log2(3) / 2)
    assert r["coverage@20"] == pytest.approx(22 / 44)
    assert Metrics().result(10)["HR@20"] == 0.0


def session(sid: int, items: Sequence[Item], t0: float = 0.0) -> Session:
    return Session(sid, list(items), [t0 + n for n in range(len(items))])


def test_every_prefix_predicts_the_next_click() -> None:
    test = [session(1, ["a", "b"]), session(2, ["a", "b", "c"]), session(3, list("abcde"))]
    pairs = list(predictions(test))
    assert len(pairs) == 1 + 2 + 4
    assert pairs[:3] == [(["a"], "b"), (["a"], "b"), (["a", "b"], "c")]
    assert pairs[-1] == (["a", "b", "c", "d"], "e")


class Fixed:
    """A scorer that always ranks the same list."""

    def __init__(self, ranked: Sequence[str]) -> None:
        self.ranked = list(ranked)

    def add_click(self, session_id: Hashable, item: str | int, ts: float) -> None:
        pass

    def add_session(self, items: Sequence[str | int], ts: float) -> None:
        pass

    def end_session(self, session_id: Hashable) -> None:
        pass

    def scores(self, current_session: Sequence[str | int], k: int) -> list[tuple[str | int, float]]:
        return [(item, 1.0 / n) for n, item in enumerate(self.ranked[:k], 1)]


def test_evaluate_model_counts_predictions_and_hits() -> None:
    test = [session(1, ["a", "b", "c"]), session(2, ["c", "a"])]
    # targets b (rank 2), c (rank 3), a (rank 1)
    r = evaluate.evaluate_model(Fixed(["a", "b", "c"]), test, n_items=6)
    assert r["predictions"] == 3
    assert r["HR@20"] == pytest.approx(1.0)
    assert r["MRR@20"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)
    assert r["coverage@20"] == pytest.approx(3 / 6)


def test_test_sessions_are_restricted_to_train_items() -> None:
    train = [session(1, ["a", "b", "c"])]
    test = [session(2, ["a", "x", "b"]), session(3, ["a", "x"]), session(4, ["y", "z"])]
    kept = restrict_to_train(train, test)
    assert kept == [Session(2, ["a", "b"], [0.0, 2.0])]


def tiny_dataset() -> Dataset:
    loops = [["a", "b", "c"], ["b", "c", "d"], ["a", "c", "d"], ["d", "a", "b"]]
    train = [session(n, loops[n % 4], float(10 * n)) for n in range(40)]
    test = [session(100 + n, loops[n % 4], 1000.0 + n) for n in range(8)]
    return Dataset("tiny", train, test, "hand-made")


def test_run_reports_every_model_with_the_protocol_counts() -> None:
    result = evaluate.run(tiny_dataset())
    assert set(result["models"]) == set(evaluate.MODELS)
    assert result["dataset"]["predictions"] == 16
    assert result["dataset"]["train_items"] == 4
    for m in result["models"].values():
        assert m["predictions"] == 16
        assert 0.0 <= m["MRR@20"] <= m["HR@20"] <= 1.0
    # every next click here has been seen after the same click in train
    assert result["models"]["sr"]["HR@20"] == 1.0
    assert result["blend"]["weights"]["vsknn"] == 1.0
    assert result["blend"]["validation"]["predictions"] > 0


def test_validation_is_carved_from_the_end_of_train() -> None:
    train = tiny_dataset().train
    head, valid = evaluate.carve_validation(train, share=0.25)
    assert head == train[:30]
    assert [s.session_id for s in valid] == [s.session_id for s in train[30:]]


def test_synthetic_split_puts_the_last_sessions_in_test() -> None:
    ds = datasets.synthetic(users=100, items=200, events=4000)
    assert ds.train and ds.test
    assert max(s.start for s in ds.train) <= min(s.start for s in ds.test)
    known = {i for s in ds.train for i in s.items}
    assert all(len(s.items) >= 2 and set(s.items) <= known for s in ds.test)


def test_cli_skips_a_missing_dataset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_DATASETS_DIR", str(tmp_path))
    parser = argparse.ArgumentParser()
    eval_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", "--dataset", "yoochoose", "--json", str(tmp_path / "r")])
    assert args.fn(args) == 0
    assert f"skipped: {tmp_path / 'yoochoose-100k'}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(datasets.DatasetMissing):
        datasets.diginetica()


def test_margin_table_reports_live_against_each_baseline() -> None:
    from loadtest.eval_cli import margin_table

    def m(hr: float, ndcg: float, mrr: float) -> dict[str, float]:
        return {"HR@20": hr, "NDCG@20": ndcg, "MRR@20": mrr}

    result = {"models": {"pop": m(0.1, 0.05, 0.02), "live": m(0.5, 0.3, 0.2)}}
    table = margin_table(result)
    assert "| pop | +0.4000 (5.00×) | +0.2500 (6.00×) | +0.1800 (10.00×) |" in table
    assert "covisit" not in table  # only the models that ran
    assert margin_table({"models": {"pop": m(0.1, 0.05, 0.02)}}) == ""
