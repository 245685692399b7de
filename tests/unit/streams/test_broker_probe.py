"""The broker probe: up/down in the gauge, one log line per transition."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams import metrics
from streams.broker_probe import BrokerProbe


def test_transitions_are_logged_once_and_set_the_gauge(caplog: pytest.LogCaptureFixture) -> None:
    answers = [True, False, False, True]

    async def ask() -> None:
        if not answers.pop(0):
            raise ConnectionError("no route")

    probe = BrokerProbe(ask, timeout_s=0.5, clock=iter([10.0, 14.5]).__next__)
    with caplog.at_level(logging.WARNING, logger="streams.broker_probe"):
        got = [asyncio.run(probe.check()) for _ in range(4)]
    assert got == [True, False, False, True]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "broker not answering (no route); consumers will reconnect",
        "broker answering again after 4.5 s",
    ]
    assert metrics.BROKER_UP._value.get() == 1.0


def test_a_hung_broker_is_down_after_the_timeout() -> None:
    async def hang() -> None:
        await asyncio.sleep(10)

    probe = BrokerProbe(hang, timeout_s=0.05)
    assert asyncio.run(probe.check()) is False
    assert metrics.BROKER_UP._value.get() == 0.0
