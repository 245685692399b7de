"""Who is asking: the session cookie, the role it grants, password checks, form checks.

Pages raise ``SignInRequired`` (answered with a redirect to the sign-in page) or
``Forbidden`` (answered with a 403 page); the JSON endpoint answers 401/403 as JSON. A
request never reaches a handler that reads data without a valid session of the right role.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request

from recommender.console.config import ConsoleUser, Role, may
from recommender.console.passwords import dummy_hash, verify_password
from recommender.console.sessions import SESSION_COOKIE, Session, csrf_ok, fingerprint, read_session
from recommender.settings import Settings

MAX_FORM_BYTES = 16_384


class SignInRequired(Exception):
    """No valid session: send the browser to the sign-in page, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """A valid session whose role may not do this."""

    def __init__(self, viewer: Viewer, needed: Role) -> None:
        super().__init__(needed)
        self.viewer = viewer
        self.needed = needed


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in console user as of this request."""

    name: str
    role: Role
    session: Session

    @property
    def csrf(self) -> str:
        """The token every form of this session carries."""
        return self.session.csrf

    def may(self, needed: Role) -> bool:
        """True when this viewer's role covers ``needed``."""
        return may(self.role, needed)


def secret_of(settings: Settings) -> str:
    """The cookie signing key."""
    return settings.console_secret.get_secret_value()


def viewer_of(request: Request, *, now: float | None = None) -> Viewer | None:
    """The signed-in user, if the cookie is valid and the user still exists unchanged."""
    s: Settings = request.app.state.settings
    now = time.time() if now is None else now
    session = read_session(request.cookies.get(SESSION_COOKIE), secret_of(s), now=now)
    if session is None:
        return None
    user = s.console_users.get(session.user)
    # A removed user, or a changed password, ends the session; the role is always current.
    if user is None or not hmac.compare_digest(fingerprint(user.password), session.pw):
        return None
    return Viewer(session.user, user.role, session)


def local_path(raw: str | None, default: str = "/console") -> str:
    """``raw`` if it is a path inside the console, else default (no open redirects)."""
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in raw:
        return default
    return raw


def require_page(needed: Role) -> Callable[[Request], Coroutine[Any, Any, Viewer]]:
    """Dependency for pages: the viewer, or SignInRequired / Forbidden."""

    async def check(request: Request) -> Viewer:
        v = viewer_of(request)
        if v is None:
            query = f"?{request.url.query}" if request.url.query else ""
            raise SignInRequired(local_path(request.url.path + query))
        if not v.may(needed):
            raise Forbidden(v, needed)
        return v

    return check


def require_json(needed: Role) -> Callable[[Request], Coroutine[Any, Any, Viewer]]:
    """Dependency for JSON endpoints: the viewer, or a 401/403 JSON answer."""

    async def check(request: Request) -> Viewer:
        v = viewer_of(request)
        if v is None:
            raise HTTPException(401, "sign in to the console first")
        if not v.may(needed):
            raise HTTPException(403, f"needs the {needed} role")
        return v

    return check


async def check_password(
    settings: Settings, name: str, password: str, limiter: asyncio.Semaphore
) -> ConsoleUser | None:
    """The user when name and password match, else None; takes as long for unknown names.

    scrypt takes ~100 ms of CPU and 32 MiB: it runs off the event loop, at most as many at
    a time as the limiter allows, so a burst of sign-in attempts cannot starve the
    recommendation requests this process serves.
    """
    user = settings.console_users.get(name)
    encoded = user.password if user is not None else dummy_hash()
    async with limiter:
        ok = await asyncio.to_thread(verify_password, password, encoded)
    return user if ok and user is not None else None


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form body (the last value of each field); bigger bodies are refused."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "unreadable form") from None
    return {k: v[-1] for k, v in fields.items()}


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin (a second CSRF guard)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # "null": sandboxed or privacy-redirected, never our own form
    return urlsplit(origin).netloc == request.headers.get("host", "")


def post_ok(request: Request, viewer: Viewer, form: dict[str, str]) -> bool:
    """True when a state-changing POST carries this session's token from this origin."""
    return same_origin(request) and csrf_ok(viewer.session, form.get("csrf"))
