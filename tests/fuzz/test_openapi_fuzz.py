"""Schemathesis against the served OpenAPI, through the real ASGI stack, Redis and broker.

Checks every response: no 5xx, every status documented, every body matching its documented
schema, invalid input rejected with a 4xx and valid input accepted. Runs as an admin key
(admin routes included) and the guard in front, as `python -m recommender serve` does.
`make fuzz` runs more examples per operation (FUZZ_API_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from pydantic import TypeAdapter, ValidationError
from schemathesis.specs.openapi.checks import positive_data_acceptance

from loadtest.stack import Stack
from recommender.api.factory import guarded
from recommender.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", "40"))
ADMIN_KEY = "fuzz-admin-key"
_INSTANT = TypeAdapter(datetime)


class _Target:
    """ASGI app handed to schemathesis at import; requests go to the app the fixture built.

    The schema is read when this module is imported, before the session's broker and Redis
    exist; the API under test is built against them by the fixture below.
    """

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:  # only the schema is read before the fixture runs
            self.app = guarded(Settings(api_keys_admin=[ADMIN_KEY]))
        await self.app(scope, receive, send)


TARGET = _Target()
schema = schemathesis.openapi.from_asgi("/openapi.json", TARGET)


@pytest.fixture(scope="module", autouse=True)
def api_under_test(stack: Stack) -> Iterator[None]:
    env = stack.env()
    s = Settings(
        kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
        redis_url=env["REDIS_URL"],
        topic_prefix="fuzzapi.",
        key_prefix="fuzzapi",
        api_keys_admin=[ADMIN_KEY],
        # The fuzzer sends hundreds of requests a second with one key.
        api_rate_limit_rps=0,
    )
    asyncio.run(ensure_topics(s))
    TARGET.app = guarded(s)
    yield
    TARGET.app = None


@schema.parametrize()
@hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi(case: Any) -> None:
    if _reversed_window(case):
        # 'since' after 'until' is valid for each parameter alone, and OpenAPI cannot say
        # that one must not pass the other: the API answers 400, which is what we check.
        response = case.call_and_validate(
            headers={"X-API-Key": ADMIN_KEY}, excluded_checks=[positive_data_acceptance]
        )
        assert response.status_code == 400, response.text
        return
    case.call_and_validate(headers={"X-API-Key": ADMIN_KEY})


def _reversed_window(case: Any) -> bool:
    """An audit query whose 'since' is after its 'until' (both parse as date-times)."""
    q = case.query or {}
    if case.path != "/v1/admin/audit" or not {"since", "until"} <= q.keys():
        return False
    try:
        since, until = (_INSTANT.validate_python(q[k]) for k in ("since", "until"))
    except ValidationError:
        return False
    return bool(since.tzinfo and until.tzinfo and since > until)
