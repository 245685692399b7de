"""What the customer page shows: ages, reasons, labels, decision rows and the SVG charts."""

from __future__ import annotations

import re

from recommender.console.charts import Mark, bars, span_for, timeline
from recommender.console.views import ago, decision_rows, item_label, reason_text
from recommender.ranking import ItemMeta

NOW = 1_700_000_000.0
ITEMS = {"h1": ItemMeta("h1", "hotel", "sanya", 500.0, None, 4, "Sanya Bay Hotel")}


def test_ages_read_like_people_say_them() -> None:
    assert ago(1) == "just now"
    assert ago(42) == "42 s ago"
    assert ago(300) == "5 min ago"
    assert ago(3 * 3600) == "3 h ago"
    assert ago(3 * 86_400) == "3 d ago"
    assert ago(-5) == "just now"  # clock skew never shows a negative age


def test_reasons_are_words_and_holds_say_so() -> None:
    assert reason_text("suppress", "no_consent") == "no consent on any channel"
    assert reason_text("suppress", "cap") == "daily cap reached"
    assert reason_text("suppress", "complaint_hold") == "complaint hold"
    assert reason_text("hold", "quiet_hours").startswith("held until quiet hours end")
    assert reason_text("send", "") == ""
    assert reason_text("suppress", "new_rule") == "new rule"  # unknown reasons still readable


def test_items_show_their_titles_and_destinations_their_names() -> None:
    assert item_label(ITEMS, "h1") == "Sanya Bay Hotel"
    assert item_label(ITEMS, "dest:chiang-mai") == "Chiang Mai"
    assert item_label(ITEMS, "reactivation") == "reactivation"


def test_decision_rows_from_the_stream() -> None:
    raw = [
        (
            b"1-0",
            {
                b"offer_id": b"o1",
                b"kind": b"price_drop",
                b"item": b"h1",
                b"outcome": b"suppress",
                b"reason": b"no_consent",
                b"channel": b"",
                b"at": repr(NOW - 120).encode(),
            },
        )
    ]
    [row] = decision_rows(raw, ITEMS, NOW)
    assert row["item"] == "Sanya Bay Hotel"
    assert row["outcome_text"] == "suppressed"
    assert row["reason_text"] == "no consent on any channel"
    assert row["ago"] == "2 min ago"


def test_bar_labels_are_escaped_and_bars_scale_to_the_largest() -> None:
    svg = str(bars([("<script>", 2.0), ("b", 1.0)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    widths = [float(w) for w in re.findall(r'class="bar"[^>]* width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert str(bars([])) == ""


def test_the_timeline_span_fits_the_oldest_event() -> None:
    assert span_for(600) == 3600
    assert span_for(2 * 86_400) == 7 * 86_400
    assert span_for(10**9) == 30 * 86_400
    svg = str(timeline([Mark(NOW - 60, "price drop", "o-send", "t")], now=NOW))
    assert "o-send" in svg and "-1 h" in svg and "now" in svg
