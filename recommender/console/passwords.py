"""Console password hashes: scrypt with a per-user salt, self-describing, compared in constant time.

Encoded as ``scrypt$<n>$<r>$<p>$<salt_b64>$<hash_b64>`` so the cost can be raised later
without invalidating existing hashes: each hash carries the parameters it was made with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache

# 2**15 x r=8 takes ~100 ms and 32 MiB per check: slow for guessing, fine for a sign-in.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**15, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MAX_N = 2**20  # refuse absurd costs from a mistyped hash (memory = 128 * r * n bytes)


@dataclass(frozen=True, slots=True)
class ScryptHash:
    """A parsed hash: cost parameters, salt and derived key."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def parse_hash(encoded: str) -> ScryptHash:
    """The parts of an encoded hash; ValueError saying what is wrong."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a password hash: expected scrypt$n$r$p$salt$hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("not a password hash: bad number or base64 part") from None
    if n < 2 or n & (n - 1) or n > MAX_N:
        raise ValueError(f"scrypt n must be a power of two between 2 and {MAX_N}, got {n}")
    if not (1 <= r <= 64 and 1 <= p <= 16):
        raise ValueError(f"scrypt r must be 1..64 and p 1..16, got r={r} p={p}")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short (>= 8 and >= 16 bytes)")
    return ScryptHash(n, r, p, salt, digest)


def _derive(password: str, h: ScryptHash, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=h.salt,
        n=h.n,
        r=h.r,
        p=h.p,
        maxmem=2 * 128 * h.r * h.n + 1024 * 1024,
        dklen=length,
    )


def hash_password(
    password: str,
    *,
    n: int = DEFAULT_N,
    r: int = DEFAULT_R,
    p: int = DEFAULT_P,
    salt: bytes | None = None,
) -> str:
    """An encoded scrypt hash of password with a fresh random salt (or the one given)."""
    if not password:
        raise ValueError("empty password")
    h = ScryptHash(n, r, p, salt if salt is not None else secrets.token_bytes(SALT_BYTES), b"")
    digest = _derive(password, h, HASH_BYTES)
    encoded = f"scrypt${n}${r}${p}${_b64(h.salt)}${_b64(digest)}"
    parse_hash(encoded)  # the parameters must be ones we accept when reading it back
    return encoded


def verify_password(password: str, encoded: str) -> bool:
    """True when password matches the hash; the comparison takes the same time either way."""
    h = parse_hash(encoded)
    return hmac.compare_digest(_derive(password, h, len(h.digest)), h.digest)


@cache
def dummy_hash() -> str:
    """Checked against when the user name is unknown, so a wrong name costs as long as a
    wrong password and response times do not reveal which names exist (made on first use)."""
    return hash_password(secrets.token_urlsafe(16))
