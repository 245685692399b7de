"""``add_console``: the console's pages, static files and error pages on the API app.

The console shares the API process (and its catalog, index and recommender) but none of
the hot path: ``api.fastpath`` answers recommendation requests before any of this runs.
"""

from __future__ import annotations

import logging
from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from recommender.console import pages_auth, pages_customer, pages_overview, pages_policy
from recommender.console.auth import Forbidden, SignInRequired, viewer_of
from recommender.console.render import page
from recommender.console.state import ConsoleState
from recommender.settings import Settings

log = logging.getLogger(__name__)


def add_console(app: FastAPI, settings: Settings) -> None:
    """Register the console under /console (settings: ``console_*``)."""
    app.state.console = ConsoleState()
    if not settings.console_users:
        log.info("console: no users configured (RECO_CONSOLE_USERS); nobody can sign in")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/console/sign-in?next={quote(exc.next_path, safe='')}", 303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        why = f"this page needs the {exc.needed} role; you are signed in as {exc.viewer.role}"
        return page(request, "forbidden.html", exc.viewer, status=403, why=why)

    @app.get("/console", include_in_schema=False)
    async def console_home(request: Request) -> Response:
        target = "/console/customers" if viewer_of(request) else "/console/sign-in"
        return RedirectResponse(target, 303)

    for module in (pages_auth, pages_customer, pages_overview, pages_policy):
        app.include_router(module.router)
    static = resources.files("recommender.console").joinpath("static")
    app.mount("/console/static", StaticFiles(directory=str(static)), name="console-static")
