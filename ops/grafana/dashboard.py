"""The SRE dashboard as code: `python -m ops.grafana.dashboard` writes dashboards/reco.json.

One dashboard for the whole flow, top to bottom as events travel: ingest (workers), state
(freshness, Redis), the API, its index and model, and engagement (offers and triggers).
Every expression reads metrics the processes export; `tests/ops/test_metric_names.py`
scrapes a real worker and API and fails when a name here is missing, and
`tests/ops/test_dashboard.py` fails when the committed JSON is not what this file generates.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafanalib._gen import write_dashboard
from grafanalib.core import Dashboard, GridPos, RowPanel, Stat, Target, Time, TimeSeries

from ops.grafana.panels import SECTIONS, P, Q

OUT = Path(__file__).parent / "dashboards" / "reco.json"
UID = "reco-overview"
# The provisioned data source (provisioning/datasources/prometheus.yml) has this uid.
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

PANEL_W, PANEL_H = 8, 8  # three panels a line on Grafana's 24-column grid


def _targets(queries: Sequence[Q], *, instant: bool = False) -> list[Any]:
    return [
        Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            datasource=DATASOURCE,
            instant=instant,
        )
        for i, q in enumerate(queries)
    ]


def _panel(p: P, pos: Any) -> Any:
    if p.kind == "stat":
        return Stat(
            title=p.title,
            description=p.description,
            dataSource=DATASOURCE,
            # Instant: the state now, not every version seen in the time range.
            targets=_targets(p.queries, instant=True),
            gridPos=pos,
            reduceCalc="lastNotNull",
            textMode="value_and_name",
            graphMode="none",
        )
    return TimeSeries(
        title=p.title,
        description=p.description,
        dataSource=DATASOURCE,
        targets=_targets(p.queries),
        gridPos=pos,
        unit=p.unit,
        axisLabel=p.axis,
        legendDisplayMode="list",
        tooltipMode="multi",
        thresholds=list(p.thresholds),
        thresholdsStyleMode="line" if p.thresholds else "off",
    )


def build() -> Any:
    """The dashboard object."""
    panels: list[Any] = []
    y = 0
    for title, section in SECTIONS:
        panels.append(RowPanel(title=title, gridPos=GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        for i, p in enumerate(section):
            x = (i * PANEL_W) % 24
            if i and x == 0:
                y += PANEL_H
            panels.append(_panel(p, GridPos(h=PANEL_H, w=PANEL_W, x=x, y=y)))
        y += PANEL_H
    return Dashboard(
        title="Travel recommender",
        uid=UID,
        description="Ingest, freshness, Redis, API latency and errors, index, offers.",
        tags=["reco"],
        timezone="browser",
        time=Time("now-1h", "now"),
        refresh="30s",
        panels=panels,
    ).auto_panel_ids()


def render() -> str:
    """The dashboard JSON as committed: sorted keys, two-space indent, final newline."""
    out = io.StringIO()
    write_dashboard(build(), out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard JSON (or, with --check, fail when the file differs)."""
    ap = argparse.ArgumentParser(prog="python -m ops.grafana.dashboard")
    ap.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is not up to date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `make dashboard`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
