"""The Faust app of a worker process, and its agents."""

from __future__ import annotations

from typing import Any

import faust
from faust.types.auth import CredentialsT

from recommender.kafka_conn import kafka_ssl_context
from recommender.settings import Settings
from streams.pipeline import INGEST_TOPICS, RawRecord
from streams.runtime import Runtime


def faust_credentials(s: Settings) -> CredentialsT | None:
    """Faust's form of the Kafka security settings (the same TLS context and SASL user as
    every aiokafka client gets from ``recommender.kafka_conn``); None for PLAINTEXT."""
    ctx = kafka_ssl_context(s)
    if s.kafka_security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            ssl_context=ctx,  # SASL_SSL with a context, SASL_PLAINTEXT without
            mechanism=s.kafka_sasl_mechanism,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def faust_settings(s: Settings) -> dict[str, Any]:
    """Faust options that work on Apache Kafka and on the embedded broker alike."""
    return {
        "broker": f"kafka://{s.kafka_bootstrap}",
        "broker_credentials": faust_credentials(s),
        "store": "memory://",  # state lives in Redis, never in Faust tables
        "processing_guarantee": "at_least_once",
        "topic_replication_factor": 1,
        "topic_partitions": s.topic_partitions,
        "broker_session_timeout": s.broker_session_timeout_s,
        "broker_rebalance_timeout": s.broker_rebalance_timeout_s,
        "broker_heartbeat_interval": 1,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": False,
    }


def create_app(s: Settings) -> tuple[faust.App, Runtime]:
    """A Faust app wired to a Runtime; the 'faust' engine adds the ingest agent."""
    app = faust.App(s.app_id, **faust_settings(s))
    runtime = Runtime(s)
    if s.engine == "faust":
        topic = app.topic(
            *[s.topic(t) for t in INGEST_TOPICS],
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @app.agent(topic, concurrency=1)
        async def apply_events(stream: faust.StreamT[bytes]) -> None:
            """Apply events in batches; Faust acks them after each batch is in Redis."""
            await runtime.ready.wait()
            assert runtime.ingest is not None
            batches = stream.take_events(s.batch_size, within=s.batch_window_s)  # type: ignore[attr-defined]
            async for events in batches:
                await runtime.ingest.apply(
                    [
                        RawRecord(
                            e.message.topic,
                            e.message.partition,
                            e.message.offset,
                            e.message.key,
                            e.message.value,
                        )
                        for e in events
                    ]
                )

    return app, runtime
