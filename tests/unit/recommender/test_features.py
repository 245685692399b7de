"""Item features: price bands, currency conversion and content vectors."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.features import content_vector, price_band, to_base

# (item type, budget/mid, mid/upscale, upscale/luxury boundaries in base currency)
BOUNDARIES = [
    ("hotel", 300.0, 700.0, 1500.0),
    ("flight", 800.0, 2000.0, 5000.0),
    ("tour", 300.0, 1000.0, 3000.0),
    ("car", 200.0, 400.0, 800.0),
    ("attraction", 100.0, 300.0, 800.0),
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(("item_type", "b1", "b2", "b3"), BOUNDARIES)
def test_price_band_boundaries(item_type: str, b1: float, b2: float, b3: float) -> None:
    # A limit is the exclusive upper bound of its band: the limit itself is the next band.
    assert price_band(item_type, 0.0) == "budget"
    assert price_band(item_type, b1 - 0.01) == "budget"
    assert price_band(item_type, b1) == "mid"
    assert price_band(item_type, b2 - 0.01) == "mid"
    assert price_band(item_type, b2) == "upscale"
    assert price_band(item_type, b3 - 0.01) == "upscale"
    assert price_band(item_type, b3) == "luxury"
    assert price_band(item_type, b3 * 100) == "luxury"


def test_price_band_unknown_type_or_price_is_none() -> None:
    assert price_band("cruise", 500.0) is None
    assert price_band("", 500.0) is None
    assert price_band("hotel", None) is None
    assert price_band("cruise", None) is None


def test_to_base_converts_with_the_rate() -> None:
    rates = {"CNY": 1.0, "USD": 7.1, "JPY": 0.05}
    assert to_base(100.0, "USD", rates) == pytest.approx(710.0)
    assert to_base(2000.0, "JPY", rates) == pytest.approx(100.0)
    assert to_base(42.0, "CNY", rates) == 42.0
    assert to_base(0.0, "USD", rates) == 0.0


def test_to_base_unknown_rate_amount_or_currency_is_none() -> None:
    rates = {"CNY": 1.0}
    assert to_base(100.0, "EUR", rates) is None
    assert to_base(None, "CNY", rates) is None
    assert to_base(100.0, None, rates) is None
    assert to_base(100.0, "CNY", {}) is None


@pytest.mark.parametrize("dim", [4, 8, 32, 128])
def test_content_vector_is_unit_length_with_the_requested_dim(dim: int) -> None:
    v = content_vector("hotel", "sanya", "mid", 4, {"origin": "beijing"}, dim)
    assert v.shape == (dim,)
    assert v.dtype == np.float32
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-5)


def test_content_vector_is_deterministic() -> None:
    args = ("flight", "tokyo", "upscale", None, {"cabin": "business", "origin": "shanghai"}, 16)
    a = content_vector(*args)
    b = content_vector(*args)
    assert a is not b
    np.testing.assert_array_equal(a, b)
    # Mutating one result must not leak into later calls (no shared cached buffer).
    a[:] = 0.0
    np.testing.assert_array_equal(content_vector(*args), b)


def test_same_type_and_destination_are_closer_than_another_destination() -> None:
    dim = 32
    hotel_a = content_vector("hotel", "sanya", "mid", 4, None, dim)
    hotel_b = content_vector("hotel", "sanya", "luxury", 5, None, dim)
    hotel_elsewhere = content_vector("hotel", "harbin", "mid", 4, None, dim)
    same_dest = cosine(hotel_a, hotel_b)
    other_dest = cosine(hotel_a, hotel_elsewhere)
    assert same_dest > other_dest
    assert same_dest > 0.5


def test_all_none_input_still_gives_a_unit_vector() -> None:
    for dim in (4, 32):
        v = content_vector(None, None, None, None, None, dim)
        assert v.shape == (dim,)
        assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_array_equal(v, content_vector(None, None, None, None, {}, dim))
    # The fallback is one fixed vector, distinct from any real item's vector.
    real = content_vector("hotel", "sanya", None, None, None, 8)
    assert not np.allclose(content_vector(None, None, None, None, None, 8), real)


def test_boolean_attributes_are_ignored() -> None:
    plain = content_vector("flight", "tokyo", "mid", None, None, 16)
    with_bools = content_vector(
        "flight", "tokyo", "mid", None, {"cabin": True, "origin": False, "car_class": True}, 16
    )
    np.testing.assert_array_equal(plain, with_bools)
    # A string value of the same attribute does move the vector.
    with_cabin = content_vector("flight", "tokyo", "mid", None, {"cabin": "economy"}, 16)
    assert not np.allclose(plain, with_cabin)


def test_attributes_outside_the_content_set_are_ignored() -> None:
    plain = content_vector("hotel", "sanya", "mid", 4, None, 16)
    other = content_vector("hotel", "sanya", "mid", 4, {"brand": "acme", "pool": "yes"}, 16)
    np.testing.assert_array_equal(plain, other)
