"""Kafka SASL/SSL and Redis AUTH/TLS: validation at start, and the options every client gets."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from recommender.errors import ConfigError
from recommender.kafka_conn import kafka_auth, kafka_options
from recommender.redis_conn import redacted, redis_options
from recommender.settings import Settings, load_settings
from streams.app import faust_credentials, faust_settings
from streams.preflight import _redis_problem
from tests.tlsfiles import TlsFiles, make_tls_files

SECRET = "hunter2-not-for-logs"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("RECO_") or name in ("KAFKA_BOOTSTRAP", "REDIS_URL"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return str(info.value)


# --- validation ------------------------------------------------------------------------------


def test_defaults_are_plaintext_without_auth() -> None:
    s = load_settings()
    assert kafka_auth(s) == {"security_protocol": "PLAINTEXT"}
    assert redis_options(s) == {}
    assert faust_credentials(s) is None


@pytest.mark.parametrize("proto", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_sasl_needs_user_and_password(proto: str) -> None:
    msg = config_error(kafka_security_protocol=proto, kafka_sasl_username="svc")
    assert f"RECO_KAFKA_SECURITY_PROTOCOL={proto} needs RECO_KAFKA_SASL_USERNAME" in msg


def test_sasl_user_without_sasl_protocol_is_refused() -> None:
    msg = config_error(kafka_sasl_username="svc", kafka_sasl_password=SECRET)
    assert "use SASL_SSL" in msg
    assert SECRET not in msg


def test_unknown_protocol_and_mechanism_are_refused() -> None:
    assert "RECO_KAFKA_SECURITY_PROTOCOL" in config_error(kafka_security_protocol="TLS")
    assert "RECO_KAFKA_SASL_MECHANISM" in config_error(kafka_sasl_mechanism="GSSAPI")


def test_kafka_tls_files_need_a_tls_protocol(tls: TlsFiles) -> None:
    msg = config_error(kafka_ssl_ca_file=str(tls.ca))
    assert "RECO_KAFKA_SSL_* files are set but RECO_KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in msg


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    msg = config_error(kafka_security_protocol="SSL", kafka_ssl_ca_file=str(missing))
    assert f"RECO_KAFKA_SSL_CA_FILE '{missing}' does not exist" in msg


def test_ca_file_that_is_no_certificate_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    msg = config_error(redis_url="rediss://127.0.0.1:6380/0", redis_ssl_ca_file=str(junk))
    assert "RECO_REDIS_SSL_CA_FILE" in msg and "holds no PEM CA certificate" in msg


def test_key_without_cert_and_mismatched_key(tls: TlsFiles) -> None:
    msg = config_error(kafka_security_protocol="SSL", kafka_ssl_key_file=str(tls.client_key))
    assert "RECO_KAFKA_SSL_KEY_FILE is set without RECO_KAFKA_SSL_CERT_FILE" in msg
    msg = config_error(
        kafka_security_protocol="SSL",
        kafka_ssl_cert_file=str(tls.client_cert),
        kafka_ssl_key_file=str(tls.server_key),  # not the key of that certificate
    )
    assert "is not a PEM certificate with its private key" in msg


def test_redis_tls_files_need_rediss(tls: TlsFiles) -> None:
    msg = config_error(redis_url="redis://127.0.0.1:6379/0", redis_ssl_ca_file=str(tls.ca))
    assert "REDIS_URL is not rediss://" in msg


def test_redis_password_in_one_place_only() -> None:
    msg = config_error(redis_url=f"redis://:{SECRET}@127.0.0.1:6379/0", redis_password="other")
    assert "keep it in RECO_REDIS_PASSWORD only" in msg
    assert SECRET not in msg
    assert "RECO_REDIS_USERNAME is set without" in config_error(redis_username="app")


def test_redis_url_scheme_is_checked() -> None:
    assert "REDIS_URL must start with redis://" in config_error(redis_url="http://x:1")


def test_secrets_are_not_in_the_settings_repr() -> None:
    s = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
        redis_password=SECRET,
    )
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert SECRET not in repr(faust_credentials(s))


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("RECO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("RECO_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("RECO_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("RECO_REDIS_PASSWORD", SECRET)
    s = load_settings()
    assert kafka_auth(s)["sasl_mechanism"] == "SCRAM-SHA-512"
    assert redis_options(s) == {"password": SECRET}


# --- what the clients get --------------------------------------------------------------------


def _sasl_ssl(tls: TlsFiles, **extra: object) -> Settings:
    return Settings(
        kafka_bootstrap="broker-1:9093,broker-2:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
        kafka_ssl_ca_file=str(tls.ca),
        **extra,  # type: ignore[arg-type]
    )


def test_sasl_ssl_options(tls: TlsFiles) -> None:
    opts = kafka_options(_sasl_ssl(tls))
    ctx = opts.pop("ssl_context")
    assert opts == {
        "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_sasl_plaintext_has_no_tls() -> None:
    s = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
    )
    assert "ssl_context" not in kafka_auth(s)
    assert kafka_auth(s)["sasl_mechanism"] == "PLAIN"


def test_ssl_with_client_certificate_and_no_hostname_check(tls: TlsFiles) -> None:
    s = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=str(tls.ca),
        kafka_ssl_cert_file=str(tls.client_cert),
        kafka_ssl_key_file=str(tls.client_key),
        kafka_ssl_check_hostname=False,
    )
    auth = kafka_auth(s)
    assert auth["security_protocol"] == "SSL" and "sasl_mechanism" not in auth
    assert auth["ssl_context"].check_hostname is False
    assert isinstance(faust_credentials(s), SSLCredentials)


def test_faust_gets_what_aiokafka_gets(tls: TlsFiles) -> None:
    """Faust turns its credentials into aiokafka arguments; they must equal ours."""
    for s in (
        _sasl_ssl(tls),
        Settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="svc",
            kafka_sasl_password=SECRET,
        ),
        Settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=str(tls.ca)),
    ):
        creds = faust_settings(s)["broker_credentials"]
        theirs = dict(credentials_to_aiokafka_auth(creds))
        ours = kafka_auth(s)
        for d in (theirs, ours):
            ctx = d.pop("ssl_context", None)
            d["tls"] = ctx is not None and ctx.get_ca_certs()
        assert theirs == ours
    assert isinstance(faust_credentials(_sasl_ssl(tls)), SASLCredentials)


async def test_aiokafka_clients_accept_the_options(tls: TlsFiles) -> None:
    # Constructing validates the combination (e.g. SSL without a context is refused).
    for s in (_sasl_ssl(tls), Settings(kafka_security_protocol="SSL")):
        await AIOKafkaProducer(**kafka_options(s)).stop()
        await AIOKafkaConsumer(**kafka_options(s)).stop()  # never started: nothing to close


def test_redis_options_for_tls_and_acl_user(tls: TlsFiles) -> None:
    s = Settings(
        redis_url="rediss://redis.internal:6380/0",
        redis_username="reco",
        redis_password=SECRET,
        redis_ssl_ca_file=str(tls.ca),
        redis_ssl_cert_file=str(tls.client_cert),
        redis_ssl_key_file=str(tls.client_key),
    )
    assert redis_options(s) == {
        "username": "reco",
        "password": SECRET,
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(tls.ca),
        "ssl_certfile": str(tls.client_cert),
        "ssl_keyfile": str(tls.client_key),
    }


def test_redacted_hides_passwords_only() -> None:
    assert redacted(f"redis://u:{SECRET}@h:6379/0") == "redis://u:***@h:6379/0"
    assert redacted(f"rediss://:{SECRET}@[::1]:6380/1") == "rediss://:***@[::1]:6380/1"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"


def test_start_up_check_does_not_print_the_password() -> None:
    s = Settings(redis_url=f"redis://app:{SECRET}@127.0.0.1:1/0")
    problem = _redis_problem(s)
    assert problem is not None and "redis://app:***@127.0.0.1:1/0" in problem
    assert SECRET not in problem
