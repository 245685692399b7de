"""Admin routes: consent changes, published as `consent` events.

The API does not write consent into Redis itself: the engagement worker is the only writer
of customer state, so a consent change from the admin API and one from the app's own
consent screen take the same path, in order, and a replay of the topic rebuilds the state.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Annotated, Any
from zoneinfo import available_timezones

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.exceptions import RedisError

from recommender import audit, erasure
from recommender.api.auth import key_digest, presented_key, require
from recommender.api.routes import ID_PATTERN
from recommender.kafka_conn import kafka_options
from recommender.settings import Settings
from schemas import Channel, Consent, SchemaError, encode
from schemas.codec import decode_as

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 5.0
ZONE_SET = frozenset(available_timezones())
ZONES: list[Any] = sorted(ZONE_SET)
# The exact set on the string itself (not beside `null`), so a client or a fuzzer knows it.
ZoneName = Annotated[str, Field(json_schema_extra={"enum": ZONES})]


class ConsentChange(BaseModel):
    """Body of a consent change."""

    model_config = ConfigDict(extra="forbid", strict=True)

    channel: Channel = Field(description="Marketing channel the answer is about.")
    granted: bool = Field(description="True: the user opted in; false: opted out.")
    timezone: ZoneName | None = Field(
        default=None, description="The user's IANA time zone, e.g. 'Asia/Shanghai'."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None and v not in ZONE_SET:
            raise ValueError(f"unknown IANA time zone {v[:64]!r}")
        return v


class Publisher:
    """A Kafka producer started on first use, so the API runs without a broker until needed."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._producer: AIOKafkaProducer | None = None

    async def send(self, logical_topic: str, key: str, value: bytes | None) -> None:
        """Produce one record and wait for the broker's ack."""
        if self._producer is None:
            producer = AIOKafkaProducer(**kafka_options(self.s), acks="all")
            await producer.start()
            self._producer = producer
        await self._producer.send_and_wait(
            self.s.topic(logical_topic), value=value, key=key.encode()
        )

    async def close(self) -> None:
        """Flush and stop the producer if it was started."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def add_admin_routes(app: FastAPI) -> None:
    """Register the admin routes (admin scope)."""

    @app.put(
        "/v1/admin/users/{user_id}/consent",
        tags=["admin"],
        summary="Record a user's opt-in or opt-out for one channel (published to `consent`)",
        status_code=202,
        dependencies=[Depends(require("admin"))],
        responses={
            400: {"description": "A field of the body is invalid (named in the message)"},
            503: {"description": "The broker did not accept the event"},
        },
    )
    async def put_consent(
        request: Request,
        user_id: Annotated[str, Path(pattern=ID_PATTERN, description="Pseudonymous user id.")],
        body: ConsentChange,
    ) -> dict[str, Any]:
        raw = {
            "v": 1,
            "event_id": f"admin-{uuid.uuid4().hex}",
            "user_id": user_id,
            "channel": body.channel,
            "granted": body.granted,
            "ts": time.time(),
        }
        if body.timezone is not None:
            raw["timezone"] = body.timezone
        try:
            # The event contract's own validation, so the API and the topic agree.
            event = decode_as(Consent, orjson.dumps(raw))
        except SchemaError as exc:
            raise HTTPException(400, f"invalid body: {exc.reason}") from None
        publisher: Publisher = request.app.state.publisher
        try:
            await asyncio.wait_for(
                publisher.send("consent", user_id, encode(event)), SEND_TIMEOUT_S
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise HTTPException(503, f"consent not recorded: broker unavailable ({exc})") from None
        store = request.app.state.store
        try:  # the change is on the topic already; the audit entry says who asked for it
            await audit.append(
                store.r,
                store.keys,
                actor=_actor(request),
                action="consent_change",
                subject=user_id,
                now=event.ts,
                detail=f"{body.channel}={'granted' if body.granted else 'withdrawn'}",
                keep_days=request.app.state.settings.console_audit_days,
            )
        except (RedisError, OSError) as exc:
            log.warning("consent change %s not audited: %s", event.event_id, exc)
        return {"event_id": event.event_id, "user_id": user_id, "channel": body.channel}


def _actor(request: Request) -> str:
    """Who made an admin call: a short digest of the API key (never the key itself)."""
    return "admin-api:" + key_digest(presented_key(request) or "")[7:19]


def add_erasure_route(app: FastAPI) -> None:
    """DELETE /v1/admin/users/{user_id}: erase a customer (admin scope)."""

    @app.delete(
        "/v1/admin/users/{user_id}",
        tags=["admin"],
        summary="Erase a customer: online state, indexes, holds; tombstone on `erasures`",
        dependencies=[Depends(require("admin"))],
        responses={503: {"description": "Redis or the broker is unavailable; safe to retry"}},
    )
    async def erase_user(
        request: Request,
        user_id: Annotated[str, Path(pattern=ID_PATTERN, description="Pseudonymous user id.")],
    ) -> dict[str, Any]:
        state = request.app.state
        r, keys = state.store.r, state.store.keys
        started = time.time()
        try:
            report = await erasure.erase(r, keys, user_id)
            await r.xadd(
                keys.audit(),
                {
                    "actor": _actor(request),
                    "action": "erasure",
                    # The record keeps that it happened, not whom: a digest stands for the id.
                    "subject": "erased:" + erasure.subject_digest(user_id, keys.prefix),
                    "ts": repr(time.time()),
                    "detail": orjson.dumps(report.index_entries).decode(),
                },
            )
        except (RedisError, OSError) as exc:
            raise HTTPException(503, f"erasure incomplete: Redis unavailable ({exc})") from None
        # In-flight batches may write the user back once; a second pass removes that.
        task = asyncio.create_task(erasure.erase_later(r, keys, user_id, erased_at=started))
        state.background.add(task)
        task.add_done_callback(state.background.discard)
        try:
            await asyncio.wait_for(state.publisher.send("erasures", user_id, None), SEND_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise HTTPException(
                503, f"erased from the online state, tombstone not published: {exc}; retry"
            ) from None
        return {
            "user_id": user_id,
            "keys_deleted": report.keys_deleted,
            "index_entries_removed": report.index_entries,
            "tombstone_topic": state.settings.topic("erasures"),
        }
