"""Every Kafka client's connection options, from the one Settings object.

Producers, consumers and admin clients (aiokafka) take ``kafka_options(s)``; the Faust app
takes ``faust_credentials(s)`` (streams/app.py). Both carry the same TLS context and SASL
user, so no client can be left talking plaintext to a secured cluster.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from recommender.settings import Settings
from recommender.settings_security import SecuritySettings


def kafka_ssl_context(s: SecuritySettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (CA, client certificate), else None."""
    if not s.kafka_security_protocol.endswith("SSL"):
        return None
    ctx: ssl.SSLContext = create_ssl_context(
        cafile=s.kafka_ssl_ca_file or None,
        certfile=s.kafka_ssl_cert_file or None,
        keyfile=s.kafka_ssl_key_file or None,
        password=s.kafka_ssl_key_password.get_secret_value() or None,
    )
    ctx.check_hostname = s.kafka_ssl_check_hostname
    return ctx


def kafka_auth(s: SecuritySettings) -> dict[str, Any]:
    """aiokafka's security keyword arguments (protocol, SASL user, TLS context)."""
    proto = s.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": proto}
    ctx = kafka_ssl_context(s)
    if ctx is not None:
        out["ssl_context"] = ctx
    if proto.startswith("SASL_"):
        out |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_sasl_password.get_secret_value(),
        }
    return out


def kafka_options(s: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: the bootstrap servers plus ``kafka_auth``."""
    return {"bootstrap_servers": s.kafka_bootstrap, **kafka_auth(s)}
