"""Profile blob codec: the version header, truncation and bookings."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.profile import Booked, Profile
from recommender.profile_codec import (
    ProfileFormatError,
    dumps,
    loads,
    version_bytes,
    version_of,
)

DIM = 4


def profile() -> Profile:
    return Profile(
        dim=DIM,
        t=1_717_000_100.0,
        n_events=3,
        last_active=1_717_000_100.0,
        short_vec=np.array([0.5, -0.25, 0.0, 1.0]),
        short_w=1.5,
        long_vec=np.array([0.0, 0.125, 2.0, -1.0]),
        long_w=2.5,
        aff={"dest": {"sanya": 1.25}, "band": {"mid": 0.5}},
        recent=[("hotel-1", 1_717_000_100.0), ("hotel-2", 1_717_000_050.0)],
        bookings={
            "b-1": Booked("hotel-1", "confirmed", 1_717_000_090.0, 700.0, "sanya"),
            "b-2": Booked("flight-9", "cancelled", 1_717_000_095.0, 1520.5, "tokyo"),
        },
        monetary=700.0,
        n_bookings=1,
        last_booking=1_717_000_090.0,
    )


@pytest.mark.parametrize("version", [0, 1, 7, 2**32 + 5, 2**64 - 1])
def test_version_round_trips_at_a_fixed_offset(version: int) -> None:
    blob = dumps(profile(), version=version)
    assert version_of(blob) == version
    assert blob[2:10] == version_bytes(version)
    assert blob[:2] == b"P2"


def test_version_bytes_are_little_endian_u64() -> None:
    assert version_bytes(7) == b"\x07\x00\x00\x00\x00\x00\x00\x00"
    assert version_bytes(258) == b"\x02\x01\x00\x00\x00\x00\x00\x00"
    assert len(version_bytes(2**64 - 1)) == 8


def test_version_does_not_change_the_rest_of_the_blob() -> None:
    a, b = dumps(profile(), version=1), dumps(profile(), version=2)
    assert a[:2] == b[:2]
    assert a[10:] == b[10:]
    assert a[2:10] != b[2:10]


def test_bookings_and_state_survive_a_round_trip() -> None:
    p = profile()
    q = loads(dumps(p, version=9))
    assert q.bookings == p.bookings
    assert q.bookings["b-2"] == Booked("flight-9", "cancelled", 1_717_000_095.0, 1520.5, "tokyo")
    assert q.booked_items() == ["hotel-1"]
    assert q.monetary == 700.0 and q.n_bookings == 1 and q.last_booking == 1_717_000_090.0
    assert q.recent == p.recent
    assert q.aff == p.aff
    assert (q.t, q.n_events, q.short_w, q.long_w) == (p.t, p.n_events, 1.5, 2.5)
    np.testing.assert_array_equal(q.short_vec, p.short_vec)
    np.testing.assert_array_equal(q.long_vec, p.long_vec)


@pytest.mark.parametrize("cut", [0, 1, 2, 9, 15])
def test_blob_truncated_inside_the_header_is_a_format_error(cut: int) -> None:
    blob = dumps(profile(), version=7)[:cut]
    with pytest.raises(ProfileFormatError):
        loads(blob)
    with pytest.raises(ProfileFormatError):
        version_of(blob)


def test_wrong_magic_is_a_format_error() -> None:
    blob = b"P1" + dumps(profile(), version=7)[2:]
    with pytest.raises(ProfileFormatError):
        loads(blob)
    with pytest.raises(ProfileFormatError):
        version_of(blob)


@pytest.mark.parametrize("keep", ["in_json", "in_vectors", "last_byte"])
def test_blob_truncated_after_the_header_is_a_format_error(keep: str) -> None:
    blob = dumps(profile(), version=7)
    cut = {"in_json": 20, "in_vectors": len(blob) - 4 * DIM, "last_byte": len(blob) - 1}[keep]
    with pytest.raises(ProfileFormatError):
        loads(blob[:cut])
