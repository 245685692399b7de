"""How processes authenticate to Kafka and Redis and encrypt the traffic: part of ``Settings``.

The fields live in this base class of ``recommender.settings.Settings`` only to keep that
module small; they are read from the same ``RECO_`` environment variables. Every client is
built from them by ``recommender.kafka_conn`` and ``recommender.redis_conn``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _readable(path: str, what: str) -> str | None:
    """A problem with a file named in the settings, or None when it can be read."""
    p = Path(path)
    if not p.is_file():
        return f"{what} {path!r} does not exist or is not a file"
    try:
        with p.open("rb"):
            return None
    except OSError as exc:
        return f"{what} {path!r} cannot be read: {exc.strerror}"


def _tls_problems(
    prefix: str, cafile: str, certfile: str, keyfile: str, key_password: str
) -> list[str]:
    """Problems with a set of TLS files: missing, unreadable or not PEM of the right kind."""
    problems = []
    named = {"ca": cafile, "cert": certfile, "key": keyfile}
    what = {
        "ca": f"{prefix}_CA_FILE",
        "cert": f"{prefix}_CERT_FILE",
        "key": f"{prefix}_KEY_FILE",
    }
    for k, path in named.items():
        if path and (p := _readable(path, what[k])):
            problems.append(p)
    if keyfile and not certfile:
        problems.append(f"{what['key']} is set without {what['cert']}")
    if problems:
        return problems
    # Load them as the clients will, so a wrong file fails now and not at the first connect.
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile:
        try:
            ctx.load_verify_locations(cafile=cafile)
        except (ssl.SSLError, ValueError) as exc:
            problems.append(f"{what['ca']} {cafile!r} holds no PEM CA certificate ({exc})")
    if certfile:
        try:
            ctx.load_cert_chain(certfile, keyfile or None, password=key_password or None)
        except (ssl.SSLError, ValueError) as exc:
            problems.append(
                f"{what['cert']} {certfile!r} (with {what['key']}) is not a PEM certificate "
                f"with its private key ({exc.__class__.__name__})"
            )
    return problems


class SecuritySettings(BaseSettings):
    """Kafka SASL/SSL and Redis AUTH/TLS; every field is optional for a local setup."""

    # Consistency (SASL needs a user, TLS files need a TLS protocol or rediss://, files exist)
    # is checked by ``security_problems``, from Settings' model validator.

    # --- Kafka --------------------------------------------------------------------------------
    kafka_security_protocol: KafkaProtocol = Field(
        "PLAINTEXT",
        description=(
            "How clients talk to the brokers: PLAINTEXT (dev), SSL (TLS), SASL_PLAINTEXT "
            "(user/password, unencrypted) or SASL_SSL (user/password over TLS, for production)."
        ),
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        "PLAIN",
        description=(
            "SASL mechanism with SASL_*: PLAIN (e.g. Confluent Cloud, only over TLS), "
            "SCRAM-SHA-256 or SCRAM-SHA-512 (e.g. Amazon MSK)."
        ),
    )
    kafka_sasl_username: str = Field("", description="SASL user name (required with SASL_*).")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="SASL password (required with SASL_*); never logged."
    )
    kafka_ssl_ca_file: str = Field(
        "",
        description=(
            "PEM file of the CA(s) that signed the brokers' certificates, with SSL/SASL_SSL; "
            "empty = the system's CAs."
        ),
    )
    kafka_ssl_cert_file: str = Field(
        "",
        description="PEM client certificate, when the brokers require mutual TLS; else empty.",
    )
    kafka_ssl_key_file: str = Field(
        "",
        description="PEM private key of the client certificate (empty: it is in the cert file).",
    )
    kafka_ssl_key_password: SecretStr = Field(
        SecretStr(""), description="Password of an encrypted client key; never logged."
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description=(
            "Check that a broker's certificate names the host connected to; turn off only for "
            "brokers reached by an address their certificate does not name."
        ),
    )

    # --- Redis -----------------------------------------------------------------------------------
    redis_username: str = Field(
        "",
        description=(
            "Redis ACL user (Redis 6+), if not in REDIS_URL; empty = 'default' when a password "
            "is set."
        ),
    )
    redis_password: SecretStr = Field(
        SecretStr(""),
        description=(
            "Redis AUTH password, kept out of REDIS_URL so the URL can be logged; never logged."
        ),
    )
    redis_ssl_ca_file: str = Field(
        "",
        description=(
            "PEM file of the CA that signed the Redis server's certificate, with a rediss:// "
            "URL; empty = the system's CAs."
        ),
    )
    redis_ssl_cert_file: str = Field(
        "",
        description=(
            "PEM client certificate, for a Redis that authenticates clients by certificate "
            "(tls-auth-clients yes, the server's default)."
        ),
    )
    redis_ssl_key_file: str = Field(
        "", description="PEM private key of the Redis client certificate (empty: in the cert)."
    )
    redis_ssl_check_hostname: bool = Field(
        True,
        description="Check that the Redis certificate names the host in REDIS_URL.",
    )


def security_problems(s: SecuritySettings, redis_url: str) -> list[str]:
    """Every inconsistency of the Kafka and Redis security settings, in words (pure-ish:
    reads the files named, so a missing or wrong one fails at start)."""
    return _kafka_problems(s) + _redis_problems(s, redis_url)


def _kafka_problems(s: SecuritySettings) -> list[str]:
    proto = s.kafka_security_protocol
    sasl, tls = proto.startswith("SASL_"), proto.endswith("SSL")
    has_user = bool(s.kafka_sasl_username)
    has_password = bool(s.kafka_sasl_password.get_secret_value())
    if sasl and not (has_user and has_password):
        return [
            f"RECO_KAFKA_SECURITY_PROTOCOL={proto} needs RECO_KAFKA_SASL_USERNAME and "
            "RECO_KAFKA_SASL_PASSWORD"
        ]
    if not sasl and (has_user or has_password):
        return [
            "RECO_KAFKA_SASL_USERNAME/PASSWORD are set but RECO_KAFKA_SECURITY_PROTOCOL is "
            f"{proto}; use SASL_SSL (or SASL_PLAINTEXT) so that they are used"
        ]
    files = (s.kafka_ssl_ca_file, s.kafka_ssl_cert_file, s.kafka_ssl_key_file)
    if not tls:
        if any(files):
            return [
                "RECO_KAFKA_SSL_* files are set but RECO_KAFKA_SECURITY_PROTOCOL is "
                f"{proto}; use SSL or SASL_SSL"
            ]
        return []
    return _tls_problems("RECO_KAFKA_SSL", *files, s.kafka_ssl_key_password.get_secret_value())


def _redis_problems(s: SecuritySettings, url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return [f"REDIS_URL must start with redis://, rediss:// or unix:// (not {parts.scheme!r})"]
    problems = []
    password = s.redis_password.get_secret_value()
    if password and parts.password:
        problems.append(
            "the Redis password is both in REDIS_URL and in RECO_REDIS_PASSWORD; keep it in "
            "RECO_REDIS_PASSWORD only"
        )
    if s.redis_username and not password:
        problems.append("RECO_REDIS_USERNAME is set without RECO_REDIS_PASSWORD")
    files = (s.redis_ssl_ca_file, s.redis_ssl_cert_file, s.redis_ssl_key_file)
    if parts.scheme != "rediss":
        if any(files):
            problems.append(
                "RECO_REDIS_SSL_* files are set but REDIS_URL is not rediss://; use rediss:// "
                "for TLS"
            )
        return problems
    return problems + _tls_problems("RECO_REDIS_SSL", *files, "")
