"""Is the broker answering? A worker that only waits on fetches cannot tell "no events"
from "no broker", so a probe asks for cluster metadata every few seconds and reports the
answer in `reco_worker_broker_up` and in the logs (once when it goes, once when it is back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from streams import metrics

log = logging.getLogger(__name__)
PROBE_S = 5.0
PROBE_TIMEOUT_S = 3.0


class BrokerProbe:
    """Calls `ask` (a metadata request) every `interval_s`; tracks up/down transitions."""

    def __init__(
        self,
        ask: Callable[[], Awaitable[object]],
        *,
        interval_s: float = PROBE_S,
        timeout_s: float = PROBE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ask = ask
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.down_since: float | None = None

    async def check(self) -> bool:
        """One probe; True when the broker answered in time."""
        try:
            await asyncio.wait_for(self.ask(), self.timeout_s)
        except Exception as exc:
            if self.down_since is None:
                self.down_since = self.clock()
                log.warning("broker not answering (%s); consumers will reconnect", exc or "timeout")
            metrics.BROKER_UP.set(0)
            return False
        if self.down_since is not None:
            log.warning("broker answering again after %.1f s", self.clock() - self.down_since)
            self.down_since = None
        metrics.BROKER_UP.set(1)
        return True

    async def run(self) -> None:
        """Probe until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self.interval_s)
