"""What the console keeps per API process: the sign-in limiter and the live samples."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from recommender.console.decision_sample import DecisionSampler
from recommender.console.live import History


@dataclass
class ConsoleState:
    """Per-process console state (``app.state.console``)."""

    # Concurrent scrypt checks: two keep a core for the recommendation requests.
    limiter: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    history: History = field(default_factory=History)
    sampler: DecisionSampler | None = None  # made on first use, when the store is open


def console_state(request: Request) -> ConsoleState:
    """The console state of the app serving this request."""
    state: ConsoleState = request.app.state.console
    return state
