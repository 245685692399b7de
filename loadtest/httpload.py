"""An open-loop HTTP/1.1 load generator that measures latency from the scheduled send time.

Requests are scheduled at a fixed rate whatever the server does; latency runs from when a
request *should* have been sent. A stalled server therefore shows up in the percentiles
instead of silently slowing the generator down (coordinated omission). The client speaks
just enough HTTP/1.1 over persistent asyncio connections to stay cheap (tens of µs per
request), so it can share a 2-core machine with the server it measures.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Latencies (s) of completed requests and the failures."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    sent: int = 0
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, float | int | dict[str, int]]:
        """Percentiles in seconds and counts."""
        lat = sorted(self.latencies)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

        non_200 = sum(n for s, n in self.statuses.items() if s != 200)
        return {
            "requests": self.sent,
            "completed": len(lat),
            "errors": self.errors + non_200,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "achieved_rps": len(lat) / self.elapsed_s if self.elapsed_s else 0.0,
            "p50_s": pct(0.50),
            "p90_s": pct(0.90),
            "p99_s": pct(0.99),
            "p999_s": pct(0.999),
            "max_s": lat[-1] if lat else float("nan"),
        }


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    headers: bytes,
    queue: asyncio.Queue[tuple[float, str] | None],
    result: LoadResult,
    timeout_s: float,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (job := await queue.get()) is not None:
            scheduled, path = job
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode() + headers + b"\r\n"
            try:
                writer.write(request)
                status = await asyncio.wait_for(_read_response(reader), timeout_s)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies.append(time.perf_counter() - scheduled)
            result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    paths: Callable[[int], str],
    *,
    rps: float,
    duration_s: float,
    headers: dict[str, str] | None = None,
    connections: int = 32,
    timeout_s: float = 2.0,
    progress: bool = True,
) -> LoadResult:
    """Send `rps` GETs per second for `duration_s` (path of request i from paths(i))."""
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    result = LoadResult()
    conns = [
        asyncio.create_task(_connection(host, port, head, queue, result, timeout_s))
        for _ in range(connections)
    ]
    total = int(rps * duration_s)
    start = time.perf_counter() + 0.05
    show = progress and sys.stderr.isatty()
    for i in range(total):
        scheduled = start + i / rps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, paths(i)))
        result.sent += 1
        if show and i % max(int(rps), 1) == 0:
            done = len(result.latencies)
            print(f"\r  {i}/{total} sent, {done} done", end="", file=sys.stderr, flush=True)
    for _ in conns:
        queue.put_nowait(None)
    await asyncio.gather(*conns, return_exceptions=True)
    result.elapsed_s = time.perf_counter() - start
    if show:
        print(file=sys.stderr)
    return result
