"""The CRM console in a real headless browser against the whole stack.

Debian's chromium driven by Playwright (which cannot download its own browsers here). The
test signs in, looks up a customer before and after they click, sees the click and the
changed offers, sees a suppressed offer with its reason, is refused with a wrong password
and (as an analyst) on an admin action, switches a kind off as an admin, and finds the
lookup in the audit trail. Screenshots go to a temp dir, or to docs/console/ with
RECO_SCREENSHOTS=docs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import shutil
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from loadtest.apiproc import ApiProcess
from loadtest.bench_freshness import click
from loadtest.produce import ensure_topics, produce
from loadtest.workers import WorkerProcess, wait_processed
from loadtest.world import Record, World
from recommender import audit
from recommender.console.passwords import hash_password
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import candidate
from recommender.engagement.policy import CustomerFacts
from recommender.keys import Keys
from recommender.reasons import place_name
from recommender.settings import LOGICAL_TOPICS
from schemas import OfferItem

pytestmark = pytest.mark.e2e

T = TypeVar("T")
ANALYST, ANALYST_PW = "demo", "demo-password"
ADMIN, ADMIN_PW = "admin", "admin-password"
FRESH = "traveller-console-1"  # no history: clicks during the test
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str | None:
    """Path of a chromium-like browser: $RECO_CHROMIUM, else the usual names on PATH."""
    given = os.environ.get("RECO_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    found = (shutil.which(n) for n in CHROMIUM_NAMES)
    return next((p for p in found if p), None)


@pytest.fixture(scope="module")
def browser_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    path = chromium()
    if path is None:
        pytest.skip(
            "no chromium found: install Debian's `chromium` (apt-get install chromium) or set "
            "RECO_CHROMIUM to a Chromium/Chrome binary"
        )
    return path


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/console/ with RECO_SCREENSHOTS=docs, else a temp dir."""
    out = ROOT / "docs" / "console" if os.environ.get("RECO_SCREENSHOTS") == "docs" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a thread of its own (Playwright owns this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _history(world: World, now: float) -> list[Record]:
    """A few weeks of synthetic traffic that ended a few minutes ago (valid records only)."""
    span = 25 * 86_400
    speed = 3000 / world.base_event_rate / span
    recs = world.events(3000, now - span, speed=speed, unknown_fraction=0.0)
    return [r for r in recs if r.valid and orjson.loads(r.value)["ts"] < now - 300]


def _regular(events: list[Record]) -> str:
    """The customer worth a screenshot: most bookings, then most events."""
    score: collections.Counter[str] = collections.Counter()
    for r in events:
        score[orjson.loads(r.value)["user_id"]] += 1000 if r.topic == "bookings" else 1
    return score.most_common(1)[0][0]


async def _decide(redis_url: str, keys: Keys, regular: str, items: list[dict[str, Any]]) -> None:
    """Offer decisions as the worker's gate makes them: sent, capped, held back, suppressed."""
    r = aioredis.Redis.from_url(redis_url)
    policy = EngagementPolicy(daily_cap=1, quiet_start="00:00", quiet_end="00:00")
    gate = PushGate(r, keys, policy)
    now = time.time()
    consent = CustomerFacts(consent={"push": True}, timezone="Asia/Shanghai")
    complaint = CustomerFacts(consent={"push": True}, complaint_until=now + 86_400)

    async def decide(user: str, kind: str, i: int, facts: CustomerFacts, at: float) -> None:
        it = items[i]
        item = OfferItem(item_id=it["item_id"], item_type=it["item_type"], score=1.0, reason="r")
        offer = candidate(user, kind, it["item_id"], at, [item], now=at, policy=policy)  # type: ignore[arg-type]
        await gate.decide_and_reserve(offer, facts, now=at)

    try:
        await decide(regular, "price_drop", 1, consent, now - 7200)
        await decide(regular, "cross_sell", 2, consent, now - 3600)  # over the daily cap of 1
        await decide(regular, "price_drop", 3, complaint, now - 600)
        # The customer who clicks in this test never consented to any channel.
        await decide(FRESH, "price_drop", 0, CustomerFacts(consent={}), now)
    finally:
        await r.aclose()


async def _send_click(bootstrap: str, topic: str, hotel: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, click(FRESH, hotel, time.time()), key=FRESH.encode())
    finally:
        await producer.stop()


async def _traffic(bootstrap: str, prefix: str, seconds: float = 5.0) -> None:
    """Synthetic clicks and bookings at ~150 events/s, stamped now, for the live overview."""
    world = World(seed=6, n_users=40, n_items=300)
    events = world.events(10**6, time.time(), speed=150 / world.base_event_rate)
    await produce(
        (r for r in events if r.valid),
        bootstrap=bootstrap,
        topic_prefix=prefix,
        rate=150,
        duration=seconds,
        progress=False,
    )


def _wait_engagement(client: redis.Redis, keys: Keys, user: str, timeout: float) -> None:
    """Best effort: the engagement pipeline has built this customer's state (for the shots)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not client.exists(keys.customer(user)):
        time.sleep(0.2)


@pytest.fixture
def live(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """Broker topics, a worker that applied a few weeks of traffic, and the API with users."""
    prefix, bootstrap = namespace["RECO_TOPIC_PREFIX"], namespace["KAFKA_BOOTSTRAP"]
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    run(ensure_topics(bootstrap, [prefix + t for t in LOGICAL_TOPICS], 4))
    now = time.time()
    world = World(seed=5, n_users=60, n_items=300)
    catalog = world.catalog_records(now - 30 * 86_400)
    events = _history(world, now)
    run(produce([*catalog, *events], bootstrap=bootstrap, topic_prefix=prefix, progress=False))
    users = {
        ANALYST: {"role": "analyst", "password": hash_password(ANALYST_PW, n=2**12)},
        ADMIN: {"role": "admin", "password": hash_password(ADMIN_PW, n=2**12)},
    }
    env = {
        **namespace,
        "RECO_CONSOLE_USERS": orjson.dumps(users).decode(),
        "RECO_CONSOLE_SECRET": "e2e-console-secret-" + "x" * 32,
    }
    worker = WorkerProcess(namespace, tmp_path / "worker.log").start()
    api = ApiProcess(env, tmp_path / "api.log")
    try:
        wait_processed(rclient, keys, len(catalog) + len(events), 90, [worker])
        regular = _regular(events)
        _wait_engagement(rclient, keys, regular, 20)
        api.start()
        hotels = [
            h for h in map(orjson.loads, (r.value for r in catalog)) if h["item_type"] == "hotel"
        ]
        hotel = hotels[0]
        run(_decide(namespace["REDIS_URL"], keys, regular, hotels))
        yield {
            "url": api.url,
            "keys": keys,
            "regular": regular,
            "hotel": hotel,
            "bootstrap": bootstrap,
            "clicks": prefix + "clicks",
            "prefix": prefix,
            "redis_url": namespace["REDIS_URL"],
        }
    finally:
        api.stop()
        worker.stop()


def _sign_in(page: Any, name: str, password: str) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_console_in_a_browser(browser_path: str, live: dict[str, Any], shots: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, hotel, regular = live["url"], live["hotel"], live["regular"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            desk = browser.new_context(viewport=DESKTOP)
            # No request may leave the API's own origin: fonts, scripts, styles are local.
            foreign: list[str] = []
            desk.on("request", lambda r: None if r.url.startswith(url) else foreign.append(r.url))
            page = desk.new_page()

            # Signed out: any console page leads to the sign-in form, never to data.
            page.goto(f"{url}/console/customers/{FRESH}")
            expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
            page.screenshot(path=shots / "sign-in.png")
            _sign_in(page, ANALYST, "wrong-password")
            expect(page.locator(".error")).to_have_text("Wrong user name or password.")
            _sign_in(page, ANALYST, ANALYST_PW)

            # Before the click: an unknown id, offers from popularity.
            expect(page).to_have_url(f"{url}/console/customers/{FRESH}")
            expect(page.locator("#summary")).to_contain_text("nothing known about this id yet")
            expect(page.locator("#fallback-note")).to_be_visible()
            expect(page.locator("#decisions")).to_contain_text("no consent on any channel")

            run(_send_click(live["bootstrap"], live["clicks"], hotel))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                page.reload()
                if hotel["title"] in page.locator("#recent").inner_text():
                    break
                time.sleep(0.2)
            expect(page.locator("#recent")).to_contain_text(hotel["title"])
            expect(page.locator("#fallback-note")).to_have_count(0)
            expect(page.locator("#offers")).to_contain_text(place_name(hotel["destination"]))
            expect(page.locator("#decisions .row-suppress")).to_contain_text("price drop")

            # A customer with history, at desktop and phone width.
            page.fill("input[name=user_id]", regular)
            page.click(".search-again button")
            expect(page.locator("h1.id")).to_have_text(regular)
            expect(page.locator("#affinities svg").first).to_be_visible()
            expect(page.locator("#decisions")).to_contain_text("daily cap reached")
            expect(page.locator("#decisions")).to_contain_text("complaint hold")
            page.screenshot(path=shots / "customer-desktop.png", full_page=True)

            page.goto(f"{url}/console/overview")
            expect(page.locator("#topics tbody tr").first).to_be_visible()
            expect(page.locator("#topics")).to_contain_text("clicks")
            expect(page.locator("#index")).to_contain_text("items")
            with ThreadPoolExecutor(1) as pool:  # live traffic while the page polls
                traffic = pool.submit(asyncio.run, _traffic(live["bootstrap"], live["prefix"]))
                expect(page.locator("#eps")).not_to_have_text(re.compile(r"^(0|-)$"), timeout=8000)
                page.wait_for_timeout(2500)  # one more poll: a line on the charts
                page.screenshot(path=shots / "overview-desktop.png", full_page=True)
                traffic.result()

            # An analyst reads the policy but may not change it, not even with a valid token.
            page.goto(f"{url}/console/policy")
            expect(page.locator("#kill-switches")).to_contain_text("Read-only")
            token = page.locator("input[name=csrf]").first.get_attribute("value")
            refused = page.request.post(
                f"{url}/console/policy/kinds",
                form={"csrf": token or "", "kind": "price_drop", "switch": "off"},
            )
            assert refused.status == 403 and "needs the admin role" in refused.text()
            assert page.request.get(f"{url}/console/audit").status == 403

            phone = browser.new_context(viewport=PHONE, device_scale_factor=2)
            mobile = phone.new_page()
            mobile.goto(f"{url}/console/sign-in?next=/console/customers/{regular}")
            _sign_in(mobile, ANALYST, ANALYST_PW)
            expect(mobile.locator("h1.id")).to_have_text(regular)
            width = mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"page is {width} px wide on a 360 px phone"
            mobile.screenshot(path=shots / "customer-phone.png", full_page=True)
            mobile.goto(f"{url}/console/overview")
            expect(mobile.locator("#topics tbody tr").first).to_be_visible()
            mobile.wait_for_timeout(2500)
            mobile.screenshot(path=shots / "overview-phone.png", full_page=True)

            # An admin switches a kind off; the change and the analyst's lookup are audited.
            admin = browser.new_context(viewport=DESKTOP).new_page()
            admin.goto(f"{url}/console/policy")
            _sign_in(admin, ADMIN, ADMIN_PW)
            admin.locator("#kind-price_drop button[value=off]").click()
            expect(admin.locator("#kind-price_drop .effective")).to_have_text("off")
            admin.screenshot(path=shots / "policy-desktop.png", full_page=True)
            admin.goto(f"{url}/console/audit?subject={FRESH}")
            expect(admin.locator("#audit")).to_contain_text("customer_lookup")
            expect(admin.locator("#audit")).to_contain_text(ANALYST)
            assert foreign == [], f"requests to other origins: {foreign}"
        finally:
            browser.close()
    trail = run(_audit(live["redis_url"], live["keys"]))
    lookups = [(e.actor, e.action) for e in trail if e.subject == FRESH]
    assert (ANALYST, "customer_lookup") in lookups
    assert any(e.action == "kill_switch" and e.actor == ADMIN for e in trail)


async def _audit(redis_url: str, keys: Keys) -> list[audit.AuditEntry]:
    r = aioredis.Redis.from_url(redis_url)
    try:
        return await audit.query(r, keys, since=time.time() - 600)
    finally:
        await r.aclose()
