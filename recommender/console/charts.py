"""Small inline SVG charts rendered on the server (pure): no script, no external request.

Sizes are in viewBox units; the stylesheet scales each chart to its container's width, so
one drawing serves a phone and a desktop. Colours come from CSS classes, not attributes,
so the pages' Content-Security-Policy can forbid inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SPANS_S = (3600.0, 6 * 3600.0, 86_400.0, 7 * 86_400.0, 30 * 86_400.0)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def bars(
    rows: Sequence[tuple[str, float]],
    *,
    width: float = 360,
    label_w: float = 120,
    bar_h: float = 16,
    gap: float = 6,
    title: str = "",
) -> Markup:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    if not rows:
        return Markup("")
    top = max((v for _, v in rows), default=0.0) or 1.0
    value_w = 44.0
    room = max(width - label_w - value_w, 10.0)
    height = len(rows) * (bar_h + gap)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {_num(width)} {_num(height)}" role="img"'
        f' aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for n, (label, value) in enumerate(rows):
        y = n * (bar_h + gap)
        w = max(room * max(value, 0.0) / top, 1.0)
        mid = y + bar_h * 0.72
        parts.append(
            f'<text class="label" x="0" y="{_num(mid)}">{escape(label)}</text>'
            f'<rect class="bar" x="{_num(label_w)}" y="{_num(y)}" width="{_num(w)}"'
            f' height="{_num(bar_h)}" rx="3"><title>{escape(label)}: {value:.3f}</title></rect>'
            f'<text class="value" x="{_num(label_w + w + 4)}" y="{_num(mid)}">{value:.2f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class Mark:
    """One event on a timeline: when, which lane, and a CSS class for its outcome."""

    ts: float
    lane: str
    css: str
    title: str


def span_for(oldest_age_s: float) -> float:
    """The smallest of the standard spans (1 h ... 30 d) that shows an event this old."""
    return next((s for s in SPANS_S if oldest_age_s <= s), SPANS_S[-1])


# The timeline's time axis is logarithmic in age: the last hour gets as much room as the
# month before it, so a burst of decisions a few minutes ago does not pile up on one dot.
_LOG_UNIT_S = 60.0
TICKS = (
    (600.0, "10 min"),
    (3600.0, "1 h"),
    (6 * 3600.0, "6 h"),
    (86_400.0, "1 d"),
    (7 * 86_400.0, "7 d"),
    (30 * 86_400.0, "30 d"),
)


def age_position(age_s: float, span_s: float) -> float:
    """Where an event this old sits on a timeline of span_s: 1.0 = now, 0.0 = span_s ago."""
    age = min(max(age_s, 0.0), span_s)
    return 1.0 - math.log1p(age / _LOG_UNIT_S) / math.log1p(span_s / _LOG_UNIT_S)


def _ticks(span: float, plot: float, min_gap: float = 40.0) -> list[tuple[float, str]]:
    """Axis ticks: now, the span's start, and the standard ages between that leave room."""
    wanted = [(a, f"-{t}") for a, t in TICKS if a < span]
    kept = [(0.0, "now"), (span, "-" + dict(TICKS)[span])]
    for age, text in wanted:
        x = plot * age_position(age, span)
        if all(abs(x - plot * age_position(k, span)) >= min_gap for k, _ in kept):
            kept.append((age, text))
    return kept


def timeline(
    marks: Sequence[Mark], *, now: float, width: float = 360, lane_h: float = 22, title: str = ""
) -> Markup:
    """Events as dots over time, one lane per label; the span fits the oldest event."""
    if not marks:
        return Markup("")
    span = span_for(max(now - min(m.ts for m in marks), 0.0))
    lanes = list(dict.fromkeys(m.lane for m in marks))
    left, right, axis_h = 112.0, 10.0, 18.0
    plot = width - left - right
    height = len(lanes) * lane_h + axis_h
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {_num(width)} {_num(height)}" role="img"'
        f' aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for n, lane in enumerate(lanes):
        y = n * lane_h + lane_h / 2
        parts.append(
            f'<text class="label" x="0" y="{_num(y + 4)}">{escape(lane)}</text>'
            f'<line class="lane" x1="{_num(left)}" x2="{_num(width - right)}"'
            f' y1="{_num(y)}" y2="{_num(y)}"/>'
        )
    base = len(lanes) * lane_h
    for age, text in _ticks(span, plot):
        x = left + plot * age_position(age, span)
        anchor = "end" if age == 0.0 else ("start" if age == span else "middle")
        parts.append(
            f'<line class="tick" x1="{_num(x)}" x2="{_num(x)}" y1="0" y2="{_num(base)}"/>'
            f'<text class="axis" x="{_num(x)}" y="{_num(base + 13)}"'
            f' text-anchor="{anchor}">{text}</text>'
        )
    for m in marks:
        x = left + plot * age_position(now - m.ts, span)
        y = lanes.index(m.lane) * lane_h + lane_h / 2
        parts.append(
            f'<circle class="dot {escape(m.css)}" cx="{_num(x)}" cy="{_num(y)}" r="5">'
            f"<title>{escape(m.title)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
