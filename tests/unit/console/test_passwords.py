"""Console password hashes: scrypt, per-user salt, self-describing, constant-time check."""

from __future__ import annotations

import pytest

from recommender.console.passwords import hash_password, parse_hash, verify_password

N = 2**10  # cheap for tests; real hashes use the default cost


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    h = hash_password("correct horse", n=N)
    assert verify_password("correct horse", h)
    assert not verify_password("correct horsE", h)
    assert not verify_password("", h)


def test_hashes_are_salted_and_carry_their_parameters() -> None:
    a, b = hash_password("same", n=N), hash_password("same", n=N)
    assert a != b  # a fresh salt each time
    parts = a.split("$")
    assert parts[:4] == ["scrypt", str(N), "8", "1"]
    parsed = parse_hash(a)
    assert (parsed.n, parsed.r, parsed.p, len(parsed.salt), len(parsed.digest)) == (N, 8, 1, 16, 32)


def test_the_cost_in_the_hash_is_the_one_used_to_verify() -> None:
    h = hash_password("pw", n=2**11, r=4, p=2, salt=b"0123456789abcdef")
    assert h == hash_password("pw", n=2**11, r=4, p=2, salt=b"0123456789abcdef")
    assert verify_password("pw", h)
    assert h != hash_password("pw", n=2**12, r=4, p=2, salt=b"0123456789abcdef")


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("hunter2", "not a password hash"),
        ("bcrypt$1$2$3$AAAA$BBBB", "not a password hash"),
        ("scrypt$1000$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "power of two"),
        ("scrypt$1024$99$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "r must be"),
        ("scrypt$1024$8$1$!!!$AAAAAAAAAAAAAAAAAAAAAA", "base64"),
        ("scrypt$1024$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA", "too short"),
    ],
)
def test_malformed_hashes_are_refused_with_the_reason(encoded: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hash(encoded)


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("", n=N)
