"""EngagementPolicy: defaults, validation, and its place in Settings (env vars, errors)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import time
from typing import get_args

import pytest

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.terms import OFFER_KINDS, SUPPRESS_REASONS, OfferKind, SuppressReason
from recommender.errors import ConfigError
from recommender.settings import load_settings
from schemas import Offer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("RECO_") or name in ("KAFKA_BOOTSTRAP", "REDIS_URL"):
            monkeypatch.delenv(name)
    yield


def config_error() -> str:
    with pytest.raises(ConfigError) as info:
        load_settings()
    return str(info.value)


def test_offer_kinds_match_the_offer_contract() -> None:
    assert set(OFFER_KINDS) == set(get_args(Offer.model_fields["kind"].annotation))
    assert set(OFFER_KINDS) == set(get_args(OfferKind))
    assert set(SUPPRESS_REASONS) == set(get_args(SuppressReason))


def test_defaults_are_valid_and_reach_settings() -> None:
    p = load_settings().engagement
    assert p == EngagementPolicy()
    assert p.quiet_start == time(22) and p.quiet_end == time(8)
    assert p.quiet_mode == "hold" and not p.quiet_hours_off()
    assert p.cooldown_s("reactivation") == 30 * 86_400
    assert p.cooldown_s("price_drop") == 72 * 3_600


def test_each_field_comes_from_its_own_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_ENGAGEMENT__DAILY_CAP", "5")
    monkeypatch.setenv("RECO_ENGAGEMENT__QUIET_START", "23:30")
    monkeypatch.setenv("RECO_ENGAGEMENT__QUIET_MODE", "drop")
    monkeypatch.setenv("RECO_ENGAGEMENT__DISABLED_KINDS", '["price_drop"]')
    monkeypatch.setenv("RECO_ENGAGEMENT__TIER_THRESHOLDS", '{"std": 0, "vip": 500}')
    p = load_settings().engagement
    assert p.daily_cap == 5
    assert p.quiet_start == time(23, 30)
    assert p.quiet_mode == "drop"
    assert p.disabled_kinds == frozenset({"price_drop"})
    assert p.tier_thresholds == {"std": 0, "vip": 500}
    assert p.price_drop_min_share == EngagementPolicy().price_drop_min_share


def test_the_whole_policy_can_come_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_ENGAGEMENT", '{"daily_cap": 7, "price_drop_min_share": 0.2}')
    p = load_settings().engagement
    assert (p.daily_cap, p.price_drop_min_share) == (7, 0.2)


@pytest.mark.parametrize(
    ("var", "value", "shown"),
    [
        ("DAILY_CAP", "0", "engagement.daily_cap"),
        ("PRICE_DROP_MIN_SHARE", "1.5", "engagement.price_drop_min_share"),
        ("QUIET_MODE", "later", "engagement.quiet_mode"),
        ("QUIET_END", "25:00", "engagement.quiet_end"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus", "engagement.default_timezone"),
        ("DISABLED_KINDS", '["spam"]', "engagement.disabled_kinds"),
        ("POINTS_PER_UNIT", '{"boat": 1}', "engagement.points_per_unit"),
        ("POINTS_PER_UNIT", '{"hotel": -1}', "engagement.points_per_unit"),
        ("TIER_THRESHOLDS", '{"silver": 100}', "engagement.tier_thresholds"),
        ("RECENCY_DAYS", "[30, 7, 90, 180]", "engagement.recency_days"),
        ("DAILY_CAPP", "3", "engagement.daily_capp"),
    ],
)
def test_a_bad_value_names_its_env_var(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(f"RECO_ENGAGEMENT__{var}", value)
    msg = config_error()
    assert f"{shown}" in msg
    assert f"(RECO_ENGAGEMENT__{var})" in msg


def test_lifecycle_thresholds_must_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_ENGAGEMENT__AT_RISK_DAYS", '{"high_value": 90, "potential": 45}')
    msg = config_error()
    assert "high_value" in msg and "at_risk_days < dormant_days < churned_days" in msg
    monkeypatch.setenv("RECO_ENGAGEMENT__AT_RISK_DAYS", '{"high_value": 30}')
    assert "need 'potential'" in config_error()


def test_old_env_var_names_still_work_beside_nested_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_BATCH_SIZE", "17")
    monkeypatch.setenv("RECO_FX_RATES", '{"CNY": 1.0}')
    monkeypatch.setenv("RECO_ENGAGEMENT__DAILY_CAP", "2")
    s = load_settings()
    assert (s.batch_size, s.fx_rates, s.engagement.daily_cap) == (17, {"CNY": 1.0}, 2)


def test_fx_rate_value_errors_name_the_map_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_FX_RATES", '{"USD": "seven"}')
    assert "(RECO_FX_RATES)" in config_error()


def test_policy_is_frozen() -> None:
    p = EngagementPolicy()
    with pytest.raises(ValueError, match="frozen"):
        p.daily_cap = 9  # type: ignore[misc]
