"""Offline evaluation on the real session datasets (skipped when they are absent).

The YOOCHOOSE run checks the protocol against session-rec's published numbers on the same
split: POP HR@20 0.0899 and V-SKNN HR@20 0.6481.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
import pytest

from loadtest import datasets, eval_cli, evaluate

pytestmark = pytest.mark.integration


def load_or_skip(name: str) -> datasets.Dataset:
    try:
        return datasets.load(name)
    except datasets.DatasetMissing as e:
        pytest.skip(f"{e.path} not found")


def test_yoochoose_pop_and_vsknn_match_session_rec() -> None:
    ds = load_or_skip("yoochoose")
    t0 = time.perf_counter()
    result = evaluate.run(ds, ["pop", "vsknn"])
    elapsed = time.perf_counter() - t0
    pop, vsknn = result["models"]["pop"], result["models"]["vsknn"]
    print(f"\nyoochoose, {elapsed:.1f} s\n" + eval_cli.table(result))
    assert result["dataset"]["predictions"] == 12_455
    assert pop["predictions"] == vsknn["predictions"] == 12_455
    assert pop["HR@20"] == pytest.approx(0.0899, abs=0.01)
    assert vsknn["HR@20"] >= 0.62
    assert elapsed < 60


def test_diginetica_runs_end_to_end_with_a_report(tmp_path: Path) -> None:
    load_or_skip("diginetica")
    parser = argparse.ArgumentParser()
    eval_cli.add_parser(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(
        ["eval", "--dataset", "diginetica", "--json", str(out / "r.json"), "--report", str(out)]
    )
    assert args.fn(args) == 0
    result = orjson.loads((out / "r.json").read_bytes())
    d = result["dataset"]
    assert d["train_sessions"] > 1000 and d["test_sessions"] > 100
    models = result["models"]
    assert set(models) == set(evaluate.MODELS)
    for m in models.values():
        assert m["predictions"] == d["predictions"] > 0
        assert 0.0 <= m["MRR@20"] <= m["HR@20"] <= 1.0
        assert 0.0 < m["coverage@20"] <= 1.0
    # session signals must beat global popularity by far on real browsing data
    assert models["vsknn"]["HR@20"] > 3 * models["pop"]["HR@20"]
    assert models["sr"]["HR@20"] > models["pop"]["HR@20"]
    for name in ("report.md", "metrics.png", "curves.png"):
        assert (out / name).stat().st_size > 0
    assert "vsknn" in (out / "report.md").read_text()
    # The serving path (profile -> candidates -> ranking, with the trained model) beats both
    # baselines on both headline metrics.
    for baseline in ("pop", "covisit"):
        for metric in ("HR@20", "NDCG@20"):
            assert models["live"][metric] > models[baseline][metric], (baseline, metric)


def test_serving_path_beats_the_baselines_on_the_synthetic_world() -> None:
    ds = datasets.synthetic(events=80_000)
    result = evaluate.run(ds, ["pop", "covisit", "live"])
    models = result["models"]
    print("\nsynthetic, 80k events\n" + eval_cli.table(result))
    assert models["live"]["predictions"] == result["dataset"]["predictions"] > 1000
    for baseline in ("pop", "covisit"):
        for metric in ("HR@20", "NDCG@20"):
            assert models["live"][metric] > models[baseline][metric], (baseline, metric)
