"""Token buckets, key digests and who a caller is (pure parts of the API's guard)."""

from __future__ import annotations

from recommender.api.auth import denial, key_digest
from recommender.api.guard import RateLimiter, caller_id
from recommender.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_a_burst_then_the_rate_and_says_when_to_retry() -> None:
    clock = Clock()
    lim = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [lim.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.take("k") == 0.5  # one token comes back every 1/2 s
    clock.t += 0.5
    assert lim.take("k") == 0.0
    assert lim.take("other") == 0.0  # callers have their own buckets
    clock.t += 60
    assert [lim.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the burst only
    assert lim.take("k") > 0


def test_keys_may_be_configured_as_digests_or_as_themselves() -> None:
    s = Settings(api_keys_app=[key_digest("app-secret")], api_keys_admin=["admin-secret"])
    assert key_digest("x").startswith("sha256:") and len(key_digest("x")) == 7 + 64
    assert denial(s, "app-secret", "app") is None
    assert denial(s, "app-secret", "admin") == (403, "this API key may not use admin endpoints")
    assert denial(s, "admin-secret", "admin") is None
    assert denial(s, key_digest("app-secret"), "app") == (401, "unknown API key")  # not the key
    assert denial(s, None, "app") is not None


def test_caller_is_the_key_digest_else_the_client_address() -> None:
    with_key = {"type": "http", "headers": [(b"x-api-key", b"abc")], "client": ("1.2.3.4", 5)}
    bearer = {"type": "http", "headers": [(b"authorization", b"Bearer abc")], "client": None}
    anonymous = {"type": "http", "headers": [], "client": ("1.2.3.4", 5)}
    assert caller_id(with_key) == caller_id(bearer)
    assert "abc" not in caller_id(with_key)
    assert caller_id(anonymous) == "a:1.2.3.4"
