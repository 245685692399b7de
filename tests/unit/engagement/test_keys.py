"""Engagement keys: one hash tag per user, under the prefix, apart from profile scans."""

from __future__ import annotations

from fnmatch import fnmatchcase

from recommender.keys import Keys


def tag(key: str) -> str:
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


def user_keys(k: Keys, user: str) -> list[str]:
    return [
        k.user(user),
        k.customer(user),
        k.offer_decision(user, "0123456789abcdef0123456789abcdef"),
        k.offers_sent(user, "20240601"),
        k.offer_cooldown(user, "dest:paris"),
    ]


def test_every_key_of_a_user_shares_the_users_hash_tag() -> None:
    for user in ("u1", "user:42", "a.b-c"):
        keys = user_keys(Keys("reco"), user)
        assert {tag(key) for key in keys} == {user}
        assert len(set(keys)) == len(keys)


def test_keys_sit_under_the_prefix() -> None:
    k = Keys("t0a1")
    assert all(fnmatchcase(key, k.all_pattern()) for key in user_keys(k, "u1"))


def test_profile_scans_do_not_pick_up_engagement_keys() -> None:
    # Tools count users by scanning Keys.user("*"); the new keys must not match it.
    k = Keys("reco")
    matches = [key for key in user_keys(k, "u1") if fnmatchcase(key, k.user("*"))]
    assert matches == [k.user("u1")]


def test_day_and_item_make_distinct_keys() -> None:
    k = Keys("reco")
    assert k.offers_sent("u1", "20240601") != k.offers_sent("u1", "20240602")
    assert k.offer_cooldown("u1", "h1") != k.offer_cooldown("u1", "h2")
