"""What a simulation knows about its users: consent timelines, time zones and complaints.

The simulation writes it as JSON lines next to its events (``write``); ``push-sim`` reads it
back (``load``) to judge the offers it consumes. Each line is a wire-format event, so the
file needs no format of its own: a Consent event (consent per channel, with the user's IANA
time zone) or a Feedback complaint. An optional first line ``{"policy": {...}}`` holds the
EngagementPolicy the simulated worker ran with, so a later audit uses the same cap and
quiet hours without being given the environment again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from recommender.engagement.config import DAY_S, EngagementPolicy
from schemas import Consent, Feedback, SchemaError, decode_consent, decode_feedback, encode


class TruthFormatError(ValueError):
    """A ground-truth file line that is neither a policy, a consent nor a complaint."""


@dataclass
class GroundTruth:
    """Timelines per user, each sorted by time; queries answer 'as of' a moment."""

    # (user, channel) -> [(ts, granted)] sorted by ts
    consent: dict[tuple[str, str], list[tuple[float, bool]]] = field(default_factory=dict)
    # user -> [(ts, zone)] sorted by ts: the zone each consent event carried
    zones: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    complaints: dict[str, list[float]] = field(default_factory=dict)  # user -> sorted ts
    policy: EngagementPolicy | None = None

    @classmethod
    def of(
        cls,
        consents: Iterable[Consent],
        complaints: Iterable[Feedback] = (),
        policy: EngagementPolicy | None = None,
    ) -> GroundTruth:
        """Build from events in any order (duplicates are harmless)."""
        t = cls(policy=policy)
        for c in consents:
            t.consent.setdefault((c.user_id, c.channel), []).append((c.ts, c.granted))
            if c.timezone is not None:
                t.zones.setdefault(c.user_id, []).append((c.ts, c.timezone))
        for f in complaints:
            if f.kind == "complaint":
                t.complaints.setdefault(f.user_id, []).append(f.ts)
        for decisions in t.consent.values():
            decisions.sort()
        for zones in t.zones.values():
            zones.sort()
        for times in t.complaints.values():
            times.sort()
        return t

    @property
    def users(self) -> int:
        """Users with at least one consent decision."""
        return len({u for u, _ in self.consent})

    def consented(self, user_id: str, channel: str, at: float) -> bool:
        """The user's last decision for the channel at or before ``at`` (none = not granted)."""
        timeline = self.consent.get((user_id, channel), [])
        # Two decisions at the same instant may reach the worker in either order, so either
        # is right; (ts, False) sorts before (ts, True), which makes a tie count as granted
        # and keeps the audit from calling a legitimate send a violation.
        i = bisect.bisect_right(timeline, (at, True))
        return i > 0 and timeline[i - 1][1]

    def timezone(self, user_id: str, at: float) -> str | None:
        """The zone of the user's latest consent event at or before ``at`` (else the first)."""
        timeline = self.zones.get(user_id)
        if not timeline:
            return None
        i = bisect.bisect_right(timeline, (at, "\uffff"))
        return timeline[max(i, 1) - 1][1]

    def complaint_until(self, user_id: str, at: float, policy: EngagementPolicy) -> float:
        """End of the complaint hold in force at ``at`` (0.0 when none)."""
        timeline = self.complaints.get(user_id, [])
        i = bisect.bisect_right(timeline, at)
        return timeline[i - 1] + policy.complaint_hold_days * DAY_S if i else 0.0


def write(
    path: Path,
    consents: Iterable[Consent],
    complaints: Iterable[Feedback] = (),
    policy: EngagementPolicy | None = None,
) -> None:
    """Write the ground truth as JSON lines (policy first, then events as on the wire)."""
    with path.open("wb") as out:
        if policy is not None:
            out.write(orjson.dumps({"policy": policy.model_dump(mode="json")}) + b"\n")
        for event in (*consents, *complaints):
            out.write(encode(event) + b"\n")


def load(path: Path) -> GroundTruth:
    """Read a file written by ``write``; a bad line raises TruthFormatError naming it."""
    consents: list[Consent] = []
    complaints: list[Feedback] = []
    policy: EngagementPolicy | None = None
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc: Mapping[str, Any] = orjson.loads(line)
                if "policy" in doc:
                    policy = EngagementPolicy.model_validate(doc["policy"])
                elif "channel" in doc:
                    consents.append(decode_consent(line))
                else:
                    complaints.append(decode_feedback(line))
            except (orjson.JSONDecodeError, SchemaError, ValueError, TypeError) as exc:
                raise TruthFormatError(f"{path}:{n}: {exc}") from None
    return GroundTruth.of(consents, complaints, policy)
