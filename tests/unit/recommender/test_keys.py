"""Redis key layout: prefix, user hash tags, offset watermarks."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from recommender.keys import Keys


def all_keys(k: Keys) -> list[str]:
    return [
        k.user("u_1"),
        k.item("hotel-1"),
        k.item_vector("hotel-1"),
        k.items(),
        k.unknown_items(),
        k.catalog_log(),
        k.offsets("ingest", "clicks", 3),
        k.stats(),
    ]


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: between the first '{' and the next '}'."""
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


@pytest.mark.parametrize("user_id", ["u1", "u_8f3a", "user:42", "a.b-c", "X" * 128])
def test_user_key_carries_the_user_id_in_a_hash_tag(user_id: str) -> None:
    key = Keys("reco").user(user_id)
    assert key == f"reco:u:{{{user_id}}}"
    assert hash_tag(key) == user_id


def test_user_keys_of_different_users_have_different_tags() -> None:
    k = Keys("reco")
    assert hash_tag(k.user("u1")) != hash_tag(k.user("u10"))


@pytest.mark.parametrize("prefix", ["reco", "t0a1b2c3d4", "staging.eu"])
def test_every_key_starts_with_the_prefix(prefix: str) -> None:
    k = Keys(prefix)
    for key in all_keys(k):
        assert key.startswith(f"{prefix}:"), key
        assert fnmatchcase(key, k.all_pattern()), key
    assert k.offsets_pattern("ingest").startswith(f"{prefix}:")
    assert k.all_pattern() == f"{prefix}:*"


def test_keys_of_another_prefix_do_not_match_the_pattern() -> None:
    a, b = Keys("reco"), Keys("reco2")
    assert not any(fnmatchcase(key, a.all_pattern()) for key in all_keys(b))


def test_default_prefix_is_reco() -> None:
    assert Keys().item("h1") == "reco:item:h1"
    assert Keys().items() == "reco:items"


def test_offsets_key_includes_group_topic_and_partition() -> None:
    k = Keys("reco")
    key = k.offsets("ingest", "dev.clicks", 7)
    assert key == "reco:off:ingest:dev.clicks:7"
    assert key != k.offsets("ingest", "dev.clicks", 8)
    assert key != k.offsets("ingest", "dev.bookings", 7)
    assert fnmatchcase(key, k.offsets_pattern("ingest"))
    assert not fnmatchcase(key, k.offsets_pattern("other"))


def test_item_and_vector_keys_differ() -> None:
    k = Keys("reco")
    assert k.item("h1") == "reco:item:h1"
    assert k.item_vector("h1") == "reco:ivec:h1"
    assert len(set(all_keys(k))) == len(all_keys(k))
