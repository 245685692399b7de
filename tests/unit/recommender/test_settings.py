"""Settings: validation messages, cross-field rules, topic names and environment variables."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from recommender.errors import ConfigError
from recommender.settings import LOGICAL_TOPICS, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without any of the variables Settings reads."""
    for name in list(os.environ):
        if name.startswith("RECO_") or name in ("KAFKA_BOOTSTRAP", "REDIS_URL"):
            monkeypatch.delenv(name)
    yield


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return str(info.value)


def test_defaults_load() -> None:
    s = load_settings()
    assert s.batch_size == 2000
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.topic("clicks") == "clicks"


@pytest.mark.parametrize(
    ("overrides", "field", "env"),
    [
        ({"batch_size": 0}, "batch_size", "RECO_BATCH_SIZE"),
        ({"batch_size": 100_001}, "batch_size", "RECO_BATCH_SIZE"),
        ({"vector_dim": 2}, "vector_dim", "RECO_VECTOR_DIM"),
        ({"batch_window_s": 0}, "batch_window_s", "RECO_BATCH_WINDOW_S"),
        ({"key_prefix": "has space"}, "key_prefix", "RECO_KEY_PREFIX"),
        ({"engine": "spark"}, "engine", "RECO_ENGINE"),
    ],
)
def test_field_errors_name_the_field_and_its_env_var(
    overrides: dict[str, object], field: str, env: str
) -> None:
    msg = config_error(**overrides)
    assert f"{field} ({env})" in msg


def test_several_bad_fields_are_all_reported() -> None:
    msg = config_error(batch_size=0, topic_partitions=0)
    assert "batch_size (RECO_BATCH_SIZE)" in msg
    assert "topic_partitions (RECO_TOPIC_PARTITIONS)" in msg


def test_short_half_life_must_be_below_long() -> None:
    msg = config_error(short_half_life_s=3600.0, long_half_life_s=3600.0)
    assert "short_half_life_s" in msg and "long_half_life_s" in msg
    msg = config_error(short_half_life_s=7200.0, long_half_life_s=3600.0)
    assert "short_half_life_s" in msg
    s = load_settings(short_half_life_s=3599.0, long_half_life_s=3600.0)
    assert s.short_half_life_s == 3599.0


def test_worker_index_must_be_below_worker_count() -> None:
    msg = config_error(worker_index=3, worker_count=3)
    assert "worker_index 3" in msg and "worker_count 3" in msg
    assert load_settings(worker_index=2, worker_count=3).worker_index == 2


def test_static_assignment_needs_batch_engine() -> None:
    msg = config_error(assignment="static", engine="faust")
    assert "static" in msg and "batch" in msg
    s = load_settings(assignment="static", engine="batch", worker_index=1, worker_count=2)
    assert s.assignment == "static"
    assert load_settings(assignment="group", engine="faust").engine == "faust"


def test_negative_or_zero_fx_rate_is_rejected() -> None:
    msg = config_error(fx_rates={"CNY": 1.0, "USD": -7.1})
    assert "fx_rates (RECO_FX_RATES)" in msg
    assert "USD" in msg and "CNY" not in msg.split("bad:")[1]
    assert "EUR" in config_error(fx_rates={"EUR": 0.0})


def test_topic_applies_the_prefix() -> None:
    s = load_settings(topic_prefix="staging.")
    assert s.topic("clicks") == "staging.clicks"
    assert [s.topic(t) for t in LOGICAL_TOPICS] == [f"staging.{t}" for t in LOGICAL_TOPICS]


def test_topic_rejects_unknown_logical_names() -> None:
    s = load_settings(topic_prefix="p.")
    with pytest.raises(ValueError, match=r"unknown topic 'p\.clicks'"):
        s.topic("p.clicks")
    with pytest.raises(ValueError, match="unknown topic 'orders'"):
        s.topic("orders")


def test_env_vars_without_prefix_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "broker-a:19092,broker-b:19092")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6380/3")
    s = load_settings()
    assert s.kafka_bootstrap == "broker-a:19092,broker-b:19092"
    assert s.redis_url == "redis://cache:6380/3"


def test_prefixed_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_BATCH_SIZE", "17")
    monkeypatch.setenv("RECO_TOPIC_PREFIX", "dev.")
    monkeypatch.setenv("RECO_FX_RATES", '{"CNY": 1.0, "USD": 7.25}')
    s = load_settings()
    assert s.batch_size == 17
    assert s.topic("bookings") == "dev.bookings"
    assert s.fx_rates == {"CNY": 1.0, "USD": 7.25}


def test_bad_env_var_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_BATCH_SIZE", "0")
    assert "batch_size (RECO_BATCH_SIZE)" in config_error()


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        s.batch_size = 5  # type: ignore[misc]
    assert s.batch_size == 2000
