"""The HTTP API: routes are thin; they load, call a pure function and answer."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from recommender.api import admin, audit_route, metrics, openapi, routes
from recommender.api.auth import require
from recommender.catalog_view import CatalogView
from recommender.console.mount import add_console
from recommender.engagement import codec as customer_codec
from recommender.engagement.codec import CustomerFormatError
from recommender.engagement.view import customer_view
from recommender.index import IndexParams
from recommender.keys import Keys
from recommender.model import ModelWatcher
from recommender.model_view import ModelView
from recommender.params import profile_params
from recommender.profile_view import profile_view
from recommender.ranking import RankWeights
from recommender.recommend import PopularityReader, Recommender
from recommender.redis_conn import redis_options
from recommender.settings import Settings
from recommender.store import API_TIMEOUT_S, RedisStore

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
log = logging.getLogger(__name__)


class OrjsonResponse(JSONResponse):
    """JSON bodies through orjson: faster than the standard library on the hot path."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


UserId = Annotated[str, Path(pattern=ID_PATTERN, description="Pseudonymous user id.")]


def create_app(settings: Settings, store: RedisStore | None = None) -> FastAPI:
    """The API bound to one settings object (and optionally an existing store)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_services(app)
        try:
            yield
        finally:
            await stop_services(app)

    app = FastAPI(
        title="travel-reco",
        version="1",
        description="Live recommendations and profiles for travellers.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.owns_store = store is None
    app.state.recommender = None
    app.state.tasks = []
    params = profile_params(settings)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0])
        return OrjsonResponse(
            {"error": f"invalid parameter '{where}': {err['msg']}"}, status_code=400
        )

    # Starlette's class: FastAPI raises it too (e.g. for a body that is not JSON).
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Headers kept: a 405 must say what is allowed (Allow), a 401 may carry a challenge.
        return OrjsonResponse(
            {"error": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    app.add_middleware(metrics.MetricsMiddleware)
    if settings.api_cors_origins:  # closed unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "PUT", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Ready to serve: index loaded, Redis reachable")
    async def readyz(request: Request) -> JSONResponse:
        reco = request.app.state.recommender
        checks: dict[str, str] = {
            "index": "ok" if reco is not None and reco.catalog.loaded else "not loaded"
        }
        try:
            await request.app.state.store.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"unreachable: {exc}"
        ready = all(v == "ok" for v in checks.values())
        return OrjsonResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/users/{user_id}/profile",
        tags=["users"],
        summary=(
            "A user's live profile: affinities, recent and booked items, embedding age;"
            " segments, lifecycle stage and loyalty"
        ),
        dependencies=[Depends(require("app"))],
        responses={404: {"description": "No events seen for this user yet"}},
    )
    async def user_profile(user_id: UserId, request: Request) -> dict[str, Any]:
        try:
            p, customer = await request.app.state.store.read_user(user_id)
        except (RedisError, OSError) as exc:
            raise HTTPException(503, f"profile store unavailable: {exc}") from None
        if p is None and customer is None:
            raise HTTPException(404, f"no profile for user '{user_id}' yet")
        now = time.time()
        out: dict[str, Any] = (
            profile_view(user_id, p, params, now=now) if p is not None else {"user_id": user_id}
        )
        out["segments"] = None
        if customer is not None:
            try:
                state = customer_codec.loads(customer)
                out["segments"] = customer_view(state, settings.engagement, now=now)
            except CustomerFormatError as exc:
                log.warning("unreadable customer state of %s: %s", user_id, exc)
        return out

    routes.add_recommendation_routes(app)
    admin.add_admin_routes(app)
    admin.add_erasure_route(app)
    audit_route.add_audit_route(app)
    app.state.background = set()  # tasks nobody awaits, kept referenced until they finish
    add_console(app, settings)  # CRM console pages under /console (recommender/console)
    openapi.install(app)
    app.state.publisher = admin.Publisher(settings)
    return app


async def start_services(app: FastAPI) -> None:
    """Open the store, load the catalog and index, follow catalog changes."""
    s: Settings = app.state.settings
    if app.state.store is None:
        app.state.store = RedisStore.from_url(
            s.redis_url,
            Keys(s.key_prefix),
            "ingest",
            timeout_s=API_TIMEOUT_S,
            **redis_options(s),
        )
    catalog = CatalogView(app.state.store, s.vector_dim, IndexParams(nprobe=s.index_nprobe))
    await catalog.load()
    # A million long-lived item objects would make every full GC pass walk them all and
    # stall requests for 100+ ms; freeze what exists now out of the collector's reach.
    gc.collect()
    gc.freeze()
    watcher = ModelWatcher(app.state.store.r, app.state.store.keys, root=s.model_dir)
    view = ModelView(IndexParams(nprobe=s.index_nprobe))
    try:
        await view.refresh(watcher)  # serve with the published model from the first request
    except (RedisError, OSError) as exc:
        log.warning("no model at start (%s); serving without session rules", exc)
    app.state.model_watcher = watcher
    app.state.model_view = view
    app.state.recommender = Recommender(
        app.state.store,
        catalog,
        PopularityReader(app.state.store),
        weights=RankWeights(),
        affinity_half_life_s=s.affinity_half_life_s,
        model=view,
        engagement=s.engagement,
    )
    app.state.stop = asyncio.Event()
    app.state.tasks = [
        asyncio.create_task(catalog.follow(app.state.stop)),
        # Index size, age and catalog lag for /metrics, read every few seconds.
        asyncio.create_task(
            metrics.observe_index(catalog, app.state.recommender.model_version, app.state.stop)
        ),
        # A newly published model is picked up without a restart.
        asyncio.create_task(view.follow(watcher, s.model_poll_s)),
    ]


async def stop_services(app: FastAPI) -> None:
    """Stop background tasks; close the store if this app opened it."""
    if getattr(app.state, "stop", None) is not None:
        app.state.stop.set()
    for task in app.state.tasks:
        task.cancel()
    for task in app.state.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app.state.publisher.close()
    if app.state.owns_store and app.state.store is not None:
        await app.state.store.close()
