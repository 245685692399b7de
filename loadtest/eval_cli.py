"""`eval` subcommand: offline next-item evaluation with a JSON result and a Markdown report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from loadtest import datasets, evaluate

COLUMNS = ("HR@10", "HR@20", "MRR@10", "MRR@20", "NDCG@20", "coverage@20")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `eval` on the loadtest CLI."""
    p = sub.add_parser(
        "eval",
        help="offline next-item evaluation (session-rec protocol)",
        description="Fit next-item scorers on train sessions and score every test prefix.",
    )
    p.add_argument("--dataset", choices=datasets.NAMES, default="yoochoose")
    p.add_argument(
        "--models",
        nargs="+",
        choices=evaluate.MODELS,
        default=list(evaluate.MODELS),
        metavar="MODEL",
        help=f"any of {', '.join(evaluate.MODELS)} (default: all)",
    )
    p.add_argument("--json", type=Path, help="also write the result to this file")
    p.add_argument("--report", type=Path, help="write report.md and PNG plots into this folder")
    p.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print a table, optionally write JSON and a report; 0 when a dataset is absent."""
    try:
        dataset = datasets.load(args.dataset)
    except datasets.DatasetMissing as e:
        print(f"skipped: {e.path} not found", file=sys.stderr)
        return 0
    result = evaluate.run(dataset, list(dict.fromkeys(args.models)))
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    if args.report:
        write_report(result, args.report)
        print(f"report: {args.report / 'report.md'}")
    return 0


def table(result: dict[str, Any]) -> str:
    """Metrics per model (and session-rec's reference numbers, when known) as Markdown."""
    head = ["model", *COLUMNS, "predict s"]
    rows = [
        [name, *(f"{m[c]:.4f}" for c in COLUMNS), f"{m['predict_s']:.2f}"]
        for name, m in result["models"].items()
    ]
    for name, ref in result.get("reference", {}).items():
        rows.append(
            [f"{name} (session-rec)", *(f"{ref[c]:.4f}" if c in ref else "" for c in COLUMNS), ""]
        )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


MARGIN_METRICS = ("HR@20", "NDCG@20", "MRR@20")
MARGIN_AGAINST = ("pop", "covisit", "vsknn")


def margin_table(result: dict[str, Any]) -> str:
    """How far `live` is ahead of (or behind) each baseline, as Markdown; '' without it."""
    models = result["models"]
    if "live" not in models:
        return ""
    live = models["live"]
    lines = ["| against | " + " | ".join(MARGIN_METRICS) + " |", "|" + "---|" * 4]
    for name in (n for n in MARGIN_AGAINST if n in models):
        cells = []
        for metric in MARGIN_METRICS:
            diff, base = live[metric] - models[name][metric], models[name][metric]
            ratio = f" ({live[metric] / base:.2f}×)" if base > 0 else ""
            cells.append(f"{diff:+.4f}{ratio}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(result: dict[str, Any], folder: Path) -> None:
    """report.md with the tables, plus metrics.png (bars) and curves.png (HR@K/MRR@K lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    _plot_bars(result, folder / "metrics.png")
    _plot_curves(result, folder / "curves.png")
    d = result["dataset"]
    lines = [
        f"# Next-item evaluation: {d['name']}",
        "",
        f"Source: `{d['source']}`",
        "",
        f"Train: {d['train_sessions']:,} sessions, {d['train_clicks']:,} clicks, "
        f"{d['train_items']:,} items. Test: {d['test_sessions']:,} sessions, "
        f"{d['test_clicks']:,} clicks, {d['predictions']:,} predictions.",
        "",
        f"Protocol: {result['protocol']}",
        "",
        table(result),
        "",
    ]
    margins = margin_table(result)
    if margins:
        lines += [
            "The serving path (`live`) against the baselines and V-SKNN, difference and ratio:",
            "",
            margins,
            "",
        ]
    blend = result.get("blend")
    if blend:
        v = blend["validation"]
        weights = ", ".join(f"{k} {w:g}" for k, w in blend["weights"].items())
        lines += [
            f"Blend weights ({weights}) chosen for HR@20 on the {blend['chosen_on']}: "
            f"{v['predictions']:,} validation predictions, HR@20 {v['HR@20']:.4f} "
            f"(V-SKNN alone {v['vsknn_alone_HR@20']:.4f}), {v['grid_size']} weightings tried.",
            "",
        ]
    lines += [
        "Timings (s): "
        + "; ".join(
            f"{n} fit {m['fit_s']:.2f}, predict {m['predict_s']:.2f}"
            for n, m in result["models"].items()
        )
        + f"; total {result['total_s']:.1f}.",
        "",
        "![HR and MRR at 10 and 20](metrics.png)",
        "",
        "![HR@K and MRR@K for K = 1..20](curves.png)",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines))


def _plot_bars(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(result["models"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("HR", "MRR"), strict=True):
        for j, k in enumerate(evaluate.KS):
            values = [result["models"][m][f"{metric}@{k}"] for m in models]
            xs = [i + (j - 0.5) * 0.38 for i in range(len(models))]
            bars = ax.bar(xs, values, width=0.38, label=f"{metric}@{k}")
            ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(range(len(models)), models)
        ax.set_title(f"{metric}@K, {result['dataset']['name']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("HR", "MRR"), strict=True):
        for name, m in result["models"].items():
            ys = m["curves"][metric]
            ax.plot(range(1, len(ys) + 1), ys, marker=".", label=name)
        ax.set_xlabel("K")
        ax.set_xticks([1, 5, 10, 15, 20])
        ax.set_title(f"{metric}@K, {result['dataset']['name']}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
