"""Signed, expiring console cookies (HMAC-SHA256), and the CSRF tokens they carry (pure).

A cookie is ``<payload_b64>.<mac_b64>``: the payload is JSON with the user name, issue and
expiry times, a random CSRF token and a fingerprint of the user's password hash. Nothing
is stored server-side: a changed password (new fingerprint) or a changed secret ends every
existing session, and the role is looked up in the settings on each request, never trusted
from the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

SESSION_COOKIE = "reco_console"
SIGNIN_COOKIE = "reco_console_signin"  # double-submit token of the sign-in form
SIGNIN_TTL_S = 900.0  # a sign-in form is good for 15 minutes


@dataclass(frozen=True, slots=True)
class Session:
    """A verified console session."""

    user: str
    issued_at: float
    expires_at: float
    csrf: str  # must come back in every form the session posts
    pw: str  # fingerprint of the password hash the session was opened with


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: str) -> str:
    # The purpose is part of the MAC so a sign-in token can never pass for a session.
    key = secret.encode()
    return _b64(hmac.new(key, f"{purpose}\x1f{payload}".encode(), hashlib.sha256).digest())


def sign(doc: dict[str, object], secret: str, purpose: str) -> str:
    """``doc`` as a signed token for ``purpose``."""
    payload = _b64(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return f"{payload}.{_mac(secret, purpose, payload)}"


def unsign(token: str, secret: str, purpose: str, *, now: float) -> dict[str, object] | None:
    """The document of a token signed for ``purpose`` and not expired; None otherwise."""
    payload, dot, mac = token.partition(".")
    if not dot or not hmac.compare_digest(mac.encode(), _mac(secret, purpose, payload).encode()):
        return None
    try:
        doc = orjson.loads(_unb64(payload))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    exp = doc.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        return None
    return doc


def fingerprint(password_hash: str) -> str:
    """Short digest of a password hash: sessions opened before a password change stop working."""
    return _b64(hashlib.sha256(password_hash.encode()).digest()[:9])


def new_session(user: str, password_hash: str, *, now: float, ttl_s: float) -> Session:
    """A fresh session with its own random CSRF token."""
    return Session(user, now, now + ttl_s, secrets.token_urlsafe(18), fingerprint(password_hash))


def session_cookie(s: Session, secret: str) -> str:
    """The cookie value of a session."""
    doc = {"u": s.user, "iat": s.issued_at, "exp": s.expires_at, "csrf": s.csrf, "pw": s.pw}
    return sign(doc, secret, "session")


def read_session(cookie: str | None, secret: str, *, now: float) -> Session | None:
    """The session in a cookie when its signature holds and it has not expired."""
    if not cookie or not secret:
        return None
    doc = unsign(cookie, secret, "session", now=now)
    if doc is None:
        return None
    user, iat, exp, csrf, pw = (doc.get(k) for k in ("u", "iat", "exp", "csrf", "pw"))
    if not (isinstance(user, str) and isinstance(csrf, str) and isinstance(pw, str)):
        return None
    if not (isinstance(iat, int | float) and isinstance(exp, int | float)):
        return None
    return Session(user, float(iat), float(exp), csrf, pw)


def signin_token(secret: str, *, now: float) -> str:
    """A signed nonce for the sign-in form: sent as a cookie and as a hidden field."""
    return sign({"n": secrets.token_urlsafe(18), "exp": now + SIGNIN_TTL_S}, secret, "signin")


def signin_ok(cookie: str | None, field: str | None, secret: str, *, now: float) -> bool:
    """True when the form's token equals the cookie's and is validly signed and fresh.

    A cross-site page can neither read nor set the cookie, so it cannot post a matching pair.
    """
    if not cookie or not field or not secret:
        return False
    same = hmac.compare_digest(cookie.encode(), field.encode())
    return same and unsign(cookie, secret, "signin", now=now) is not None


def csrf_ok(session: Session, field: str | None) -> bool:
    """True when a posted form carries the session's CSRF token."""
    return field is not None and hmac.compare_digest(session.csrf.encode(), field.encode())
