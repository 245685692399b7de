"""`python -m ops.render`: draw the Grafana dashboard's panels from a running Prometheus to a PNG.

Grafana is not packaged for Debian, so this stands in for a screenshot: it reads
ops/grafana/dashboards/reco.json, runs every panel's PromQL through Prometheus's HTTP API
(`/api/v1/query_range`) and draws the panels with matplotlib where the dashboard's grid puts
them. Grafana's `$__rate_interval` becomes `--rate-interval`. The image says it was drawn
this way, not by Grafana.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "reco.json"
OUT = ROOT / "docs" / "dashboard.png"
BG, PANEL, TEXT, GRID, MUTED = "#111217", "#181b1f", "#ccccdc", "#2c3235", "#8e8e9e"
ROW_UNIT_IN = 0.42  # inches per Grafana grid row (30 px in Grafana)


@dataclass(frozen=True)
class Series:
    """One line of a panel: its legend and its samples."""

    legend: str
    times: list[float]  # Unix seconds
    values: list[float]


def query_range(base: str, expr: str, start: float, end: float, step: float) -> list[Any]:
    """The matrix result of a range query (raises on an HTTP or PromQL error)."""
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base.rstrip('/')}/api/v1/query_range?{qs}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {expr!r}: {body.get('error')}")
    result: list[Any] = body["data"]["result"]
    return result


def query_instant(base: str, expr: str, at: float) -> list[Any]:
    """The vector result of an instant query at Unix time `at`."""
    qs = urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(f"{base.rstrip('/')}/api/v1/query?{qs}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {expr!r}: {body.get('error')}")
    result: list[Any] = body["data"]["result"]
    return result


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: `{{label}}` replaced by the series' label value."""
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    return text or ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def panel_series(
    base: str, panel: dict[str, Any], start: float, end: float, step: float, rate: str
) -> list[Series]:
    """Every series of every target of a panel (instant targets: one point at `end`)."""
    out: list[Series] = []
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$__rate_interval", rate)
        if target.get("instant"):
            results = [
                {"metric": r["metric"], "values": [r["value"]]}
                for r in query_instant(base, expr, end)
            ]
        else:
            results = query_range(base, expr, start, end, step)
        for res in results:
            pts = [(float(t), float(v)) for t, v in res["values"]]
            out.append(
                Series(
                    legend(target.get("legendFormat", ""), res["metric"]),
                    [t for t, _ in pts],
                    [v for _, v in pts],
                )
            )
    return out


def _value_formatter(unit: str) -> FuncFormatter:
    def fmt(v: float, _pos: object = None) -> str:
        if unit == "s":
            return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
        if unit == "percentunit":
            return f"{v * 100:.3g}%"
        return f"{v / 1000:.3g}k" if abs(v) >= 10_000 else f"{v:.4g}"

    return FuncFormatter(fmt)


def _clock(t: float, _pos: object = None) -> str:
    return f"{datetime.fromtimestamp(t):%H:%M:%S}"


def _style(ax: Axes, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=10, loc="left", fontweight="bold")
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=7)


def _no_data(ax: Axes, why: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, why, ha="center", va="center", color=MUTED, fontsize=9, wrap=True)


def draw_timeseries(ax: Axes, panel: dict[str, Any], series: list[Series]) -> None:
    """Lines with a legend; Grafana's threshold steps as dashed lines."""
    custom = panel["fieldConfig"]["defaults"]
    unit = custom.get("unit") or "short"
    drawn = [s for s in series if any(not math.isnan(v) for v in s.values)]
    if not drawn:
        _no_data(
            ax, "No data: no series in this window\n(a counter has none before its first increment)"
        )
        return
    for s in drawn[:12]:
        ax.plot(s.times, s.values, linewidth=1.3, label=s.legend[:48])
    for step in custom.get("thresholds", {}).get("steps", []):
        if step.get("value") is not None:
            ax.axhline(step["value"], color="#f2495c", linestyle="--", linewidth=1)
    ax.yaxis.set_major_formatter(_value_formatter(unit))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    axis_label = custom.get("custom", {}).get("axisLabel", "")
    if axis_label:
        ax.set_ylabel(axis_label, color=MUTED, fontsize=7)
    ax.set_ylim(bottom=0)
    ax.grid(color=GRID, linewidth=0.5)
    ax.legend(fontsize=6.5, loc="upper left", facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT)


def draw_stat(ax: Axes, series: list[Series]) -> None:
    """The last value of each series, as Grafana's stat panel shows it."""
    ax.set_xticks([])
    ax.set_yticks([])
    rows = [
        (s.legend, next((v for v in reversed(s.values) if not math.isnan(v)), None)) for s in series
    ]
    rows = [(name, v) for name, v in rows if v is not None]
    if not rows:
        _no_data(ax, "No data")
        return
    for i, (name, v) in enumerate(rows[:6]):
        y = 0.8 - i * (0.7 / max(len(rows[:6]), 1))
        ax.text(0.05, y, name[:40], color=MUTED, fontsize=9, va="center", transform=ax.transAxes)
        ax.text(
            0.95,
            y,
            f"{v:,.0f}",
            color="#73bf69",
            fontsize=16,
            ha="right",
            va="center",
            fontweight="bold",
            transform=ax.transAxes,
        )


def render(
    base: str,
    dashboard: dict[str, Any],
    out: Path,
    *,
    minutes: float,
    rate: str,
    end: float | None = None,
) -> int:
    """Draw every panel to out; returns how many panels had data."""
    end = time.time() if end is None else end
    start = end - minutes * 60
    step = max(minutes * 60 / 240, 1.0)
    panels = dashboard["panels"]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(24 * 0.85, height * ROW_UNIT_IN + 1.2), facecolor=BG)
    top = 1 - 1.0 / (height * ROW_UNIT_IN + 1.2)
    grid = fig.add_gridspec(
        height, 24, left=0.035, right=0.99, bottom=0.02, top=top, hspace=0.0, wspace=0.0
    )
    fig.suptitle(
        f"{dashboard['title']}: {datetime.fromtimestamp(start):%Y-%m-%d %H:%M} to "
        f"{datetime.fromtimestamp(end):%H:%M:%S}  (drawn by ops/render.py from Prometheus "
        f"{base}; the same queries as the Grafana dashboard)",
        color=TEXT,
        fontsize=12,
        x=0.01,
        ha="left",
    )
    with_data = 0
    for p in panels:
        pos = p["gridPos"]
        if p["type"] == "row":
            ax = fig.add_subplot(grid[pos["y"], :])
            ax.axis("off")
            ax.text(
                0.0,
                0.2,
                p["title"],
                color=TEXT,
                fontsize=12,
                fontweight="bold",
                transform=ax.transAxes,
            )
            continue
        # Leave a gutter inside each cell so neighbouring panels do not touch.
        cell = grid[pos["y"] : pos["y"] + pos["h"], pos["x"] : pos["x"] + pos["w"]]
        box = cell.get_position(fig)
        ax = fig.add_axes((box.x0 + 0.012, box.y0 + 0.012, box.width - 0.02, box.height - 0.035))
        _style(ax, p["title"])
        series = panel_series(base, p, start, end, step, rate)
        with_data += bool(series)
        if p["type"] == "stat":
            draw_stat(ax, series)
        else:
            draw_timeseries(ax, p, series)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=BG)
    plt.close(fig)
    return with_data


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and render."""
    ap = argparse.ArgumentParser(prog="python -m ops.render", description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    ap.add_argument("--dashboard", type=Path, default=DASHBOARD)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--minutes", type=float, default=15, help="window ending now (or --end)")
    ap.add_argument("--end", type=float, default=None, help="Unix time the window ends")
    ap.add_argument("--rate-interval", default="1m", help="what $__rate_interval becomes")
    args = ap.parse_args(argv)
    dashboard = json.loads(args.dashboard.read_text())
    n = render(
        args.prometheus,
        dashboard,
        args.out,
        minutes=args.minutes,
        rate=args.rate_interval,
        end=args.end,
    )
    total = sum(1 for p in dashboard["panels"] if p["type"] != "row")
    print(f"wrote {args.out}: {n} of {total} panels with data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
