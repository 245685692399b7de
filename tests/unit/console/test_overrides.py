"""effective_policy: admin overrides of the kill switches on top of the configured policy."""

from __future__ import annotations

from recommender.console.overrides import PolicyOverrides, effective_policy, parse_overrides
from recommender.engagement.config import EngagementPolicy


def test_no_overrides_leave_the_policy_as_it_is() -> None:
    policy = EngagementPolicy(disabled_kinds=frozenset({"reactivation"}))
    assert effective_policy(policy, PolicyOverrides()) is policy
    # An override that agrees with the configuration changes nothing either.
    assert effective_policy(policy, PolicyOverrides({"reactivation": False})) is policy


def test_off_kills_a_kind_and_on_revives_a_configured_off_kind() -> None:
    policy = EngagementPolicy(disabled_kinds=frozenset({"reactivation"}), daily_cap=5)
    out = effective_policy(policy, PolicyOverrides({"price_drop": False, "reactivation": True}))
    assert out.disabled_kinds == frozenset({"price_drop"})
    assert out.daily_cap == 5  # every other value as configured
    assert policy.disabled_kinds == frozenset({"reactivation"})  # the input is untouched


def test_the_stored_hash_is_parsed_and_junk_is_ignored() -> None:
    raw = {
        b"kind:price_drop": b"off",
        b"kind:cross_sell": b"on",
        b"kind:teleport": b"off",  # not an offer kind
        b"kind:reactivation": b"maybe",  # not a switch value
        b"daily_cap": b"1",  # not an override this version knows
    }
    assert parse_overrides(raw).kinds == {"price_drop": False, "cross_sell": True}
