"""Offer ids are deterministic per (user, kind, item, window); offers match the contract."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.engagement.offers import MAX_ITEMS, build_offer, candidate, offer_id
from schemas import OfferItem, decode_offer, encode
from tests.unit.engagement.helpers import HOUR, T0, policy

ITEM = OfferItem(
    item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now", price=90.0, currency="CNY"
)


def test_offer_id_is_stable_and_depends_on_every_part() -> None:
    base = offer_id("u1", "price_drop", "h1", T0)
    assert base == offer_id("u1", "price_drop", "h1", T0 + 0.9)  # same second
    assert len(base) == 32 and all(c in "0123456789abcdef" for c in base)
    others = {
        offer_id("u2", "price_drop", "h1", T0),
        offer_id("u1", "cross_sell", "h1", T0),
        offer_id("u1", "price_drop", "h2", T0),
        offer_id("u1", "price_drop", "h1", T0 + 1),
    }
    assert base not in others and len(others) == 4


def test_offer_id_recipe_is_pinned() -> None:
    # Other services may recompute ids: BLAKE2b-128 of the parts joined by U+001F.
    raw = b"offer/v1\x1fu1\x1fprice_drop\x1fh1\x1f1700000000"
    expected = hashlib.blake2b(raw, digest_size=16).hexdigest()
    assert expected == "917a13342e9683eb4d267eaaf47ecccf"
    assert offer_id("u1", "price_drop", "h1", 1_700_000_000.5) == expected


@given(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1), st.text(min_size=1))
def test_parts_cannot_run_into_each_other(a: str, b: str, c: str, d: str) -> None:
    if (a, b) != (c, d) and "\x1f" not in a + b + c + d:
        assert offer_id(a, b, "x", T0) != offer_id(c, d, "x", T0)


def test_candidate_expires_after_the_offer_lifetime_and_caps_items() -> None:
    c = candidate("u1", "price_drop", "h1", T0, [ITEM] * 30, now=T0, policy=policy())
    assert c.expires_at == T0 + 48 * HOUR
    assert len(c.items) == MAX_ITEMS
    with pytest.raises(ValueError, match="at least one item"):
        candidate("u1", "price_drop", "h1", T0, [], now=T0, policy=policy())


def test_built_offer_is_a_valid_contract_message() -> None:
    ctx = {"old_price": 120.0, "new_price": 90.0}
    c = candidate("u1", "price_drop", "h1", T0, [ITEM], now=T0, policy=policy(), context=ctx)
    o = build_offer(c, "push")
    assert o.offer_id == c.offer_id and o.channel == "push" and o.kind == "price_drop"
    assert decode_offer(encode(o)) == o
