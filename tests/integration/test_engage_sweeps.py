"""Time-based triggers on the event clock: held offers, reactivation, abandoned searches."""

from __future__ import annotations

import pytest

from streams.engage_index import ABANDONED_SEARCH, REACTIVATION
from streams.engage_sweeps import HELD
from tests.integration.test_engage_pipeline import (
    DAY,
    NOON,
    Harness,
    booking,
    click,
    consent,
    h,
    seed_catalog,
)

pytestmark = pytest.mark.integration
__all__ = ["h"]  # the fixture, imported for pytest


async def tick(h: Harness, ts: float) -> None:
    """Move the event clock: another user's click at ``ts``."""
    await h.apply(click("clock", ts, item_id="h2"))


async def test_an_offer_decided_in_quiet_hours_is_held_then_released(h: Harness) -> None:
    night = NOON + 11 * 3600  # 23:00 UTC
    await h.apply(consent("u1", NOON), booking("u1", night))
    assert h.decisions[("cross_sell", "hold", "quiet_hours")] == 1
    assert await h.store.r.zcard(h.keys.held_offers()) == 1
    await h.sweeps.run_once()  # still night on the event clock
    assert await h.read("offers", 0, linger_s=0.3) == []

    await tick(h, NOON + 20.5 * 3600)  # 08:30 next morning
    done = await h.sweeps.run_once()
    assert done[HELD] == 1
    offers = await h.read("offers", 1)
    assert [(o["user_id"], o["kind"]) for o in offers] == [("u1", "cross_sell")]
    # Released as the night ended on the sweep's clock: never "created" in quiet hours.
    assert offers[0]["created_at"] == NOON + 20.5 * 3600
    assert offers[0]["expires_at"] == night + 48 * 3600  # the lifetime of the booking's offer
    assert await h.store.r.zcard(h.keys.held_offers()) == 0
    await h.sweeps.run_once()
    assert await h.read("offers", 0, linger_s=0.3) == []


async def test_reactivation_once_per_cooldown_reading_only_due_users(h: Harness) -> None:
    for d in (46, 77):  # popular items on the days the sweeps run
        await seed_catalog(h.store, NOON + d * DAY)
    await h.apply(consent("sleepy", NOON), click("sleepy", NOON), click("busy", NOON))
    # At risk after 45 idle days (a 'potential' customer): that is when the sweep looks.
    assert await h.store.r.zscore(h.keys.due(REACTIVATION), "sleepy") == NOON + 45 * DAY

    await tick(h, NOON + 44 * DAY)
    await h.apply(click("busy", NOON + 44 * DAY))
    await h.sweeps.run_once()
    assert h.sweeps.read[REACTIVATION] == 0  # nobody due yet: nobody read

    await tick(h, NOON + 46 * DAY)
    await h.sweeps.run_once()
    assert h.sweeps.read[REACTIVATION] == 1  # sleepy only; busy and 'clock' are not due
    offers = await h.read("offers", 1)
    assert [(o["user_id"], o["kind"]) for o in offers] == [("sleepy", "reactivation")]
    assert offers[0]["items"][0]["reason"] == "Trending now"  # no profile: global trends
    # Handled: the entry moved a cooldown ahead, so the next sweeps do not read sleepy.
    due = await h.store.r.zscore(h.keys.due(REACTIVATION), "sleepy")
    assert due == NOON + 46 * DAY + 30 * DAY
    await h.sweeps.run_once()
    assert h.sweeps.read[REACTIVATION] == 1
    assert await h.read("offers", 0, linger_s=0.3) == []

    # The gate's cooldown key lives in wall-clock time (a Redis TTL) that the event clock
    # cannot fast-forward: expire it as 30 real days would have.
    await h.store.r.delete(h.keys.offer_cooldown("sleepy", "reactivation"))
    await tick(h, NOON + 77 * DAY)  # a cooldown later, still idle: one more offer
    await h.sweeps.run_once()
    again = await h.read("offers", 1)
    assert [(o["user_id"], o["kind"]) for o in again] == [("sleepy", "reactivation")]
    assert again[0]["offer_id"] != offers[0]["offer_id"]
    assert h.decisions[("reactivation", "send", None)] == 2


async def test_an_abandoned_search_gets_one_reminder(h: Harness) -> None:
    await h.apply(
        consent("s1", NOON - DAY), click("s1", NOON, action="search", destination="paris")
    )
    assert await h.store.r.zscore(h.keys.due(ABANDONED_SEARCH), "s1") == NOON + DAY
    await tick(h, NOON + DAY + 60)
    await h.sweeps.run_once()
    offers = await h.read("offers", 1)
    assert [(o["user_id"], o["kind"]) for o in offers] == [("s1", "abandoned_search")]
    assert offers[0]["context"]["destination"] == "paris"
    assert await h.store.r.zscore(h.keys.due(ABANDONED_SEARCH), "s1") is None  # reminded
    await h.sweeps.run_once()
    assert await h.read("offers", 0, linger_s=0.3) == []
