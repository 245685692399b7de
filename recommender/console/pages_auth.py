"""Sign-in and sign-out: a form, a password check, a signed session cookie."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from recommender.console.auth import (
    check_password,
    local_path,
    post_ok,
    read_form,
    same_origin,
    secret_of,
    viewer_of,
)
from recommender.console.render import page
from recommender.console.sessions import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_TTL_S,
    new_session,
    session_cookie,
    signin_ok,
    signin_token,
)
from recommender.console.state import console_state
from recommender.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
PATH = "/console"


def _secure(request: Request) -> bool:
    s: Settings = request.app.state.settings
    return request.url.scheme == "https" or s.console_cookie_secure


def _set(request: Request, resp: Response, name: str, value: str, max_age: float) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=int(max_age),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _form(
    request: Request, next_path: str, *, error: str = "", name: str = "", status: int = 200
) -> Response:
    s: Settings = request.app.state.settings
    secret = secret_of(s)
    token = signin_token(secret, now=time.time()) if secret else ""
    resp = page(
        request,
        "signin.html",
        None,
        status=status,
        token=token,
        next_path=next_path,
        error=error,
        name=name,
        configured=bool(s.console_users and secret),
    )
    if token:
        _set(request, resp, SIGNIN_COOKIE, token, SIGNIN_TTL_S)
    return resp


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    """The sign-in form (or straight on, when already signed in)."""
    next_path = local_path(request.query_params.get("next"))
    if viewer_of(request) is not None:
        return RedirectResponse(next_path, 303)
    return _form(request, next_path)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the password; on success set the session cookie and go where the user was going."""
    s: Settings = request.app.state.settings
    form = await read_form(request)
    next_path = local_path(form.get("next"))
    name = form.get("name", "").strip()
    now = time.time()
    secret = secret_of(s)
    if not same_origin(request) or not signin_ok(
        request.cookies.get(SIGNIN_COOKIE), form.get("csrf"), secret, now=now
    ):
        error = "This sign-in form has expired or came from another site. Please try again."
        return _form(request, next_path, error=error, name=name, status=400)
    user = await check_password(s, name, form.get("password", ""), console_state(request).limiter)
    if user is None:
        log.info("console sign-in refused for %r", name)
        return _form(
            request, next_path, error="Wrong user name or password.", name=name, status=401
        )
    session = new_session(name, user.password, now=now, ttl_s=s.console_session_ttl_s)
    resp = RedirectResponse(next_path, 303)
    _set(request, resp, SESSION_COOKIE, session_cookie(session, secret), s.console_session_ttl_s)
    resp.delete_cookie(SIGNIN_COOKIE, path=PATH)
    log.info("console sign-in: %s (%s)", name, user.role)
    return resp


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session (the cookie is dropped; it is also signed to expire on its own)."""
    viewer = viewer_of(request)
    form = await read_form(request)
    if viewer is not None and not post_ok(request, viewer, form):
        return page(request, "forbidden.html", viewer, status=403, why="the form was not ours")
    resp = RedirectResponse(f"{PATH}/sign-in", 303)
    resp.delete_cookie(SESSION_COOKIE, path=PATH)
    return resp
