"""Signed, expiring session cookies and the CSRF tokens of the sign-in form and sessions."""

from __future__ import annotations

import base64

import orjson

from recommender.console.sessions import (
    csrf_ok,
    new_session,
    read_session,
    session_cookie,
    sign,
    signin_ok,
    signin_token,
    unsign,
)

SECRET = "x" * 32
NOW = 1_700_000_000.0


def test_a_cookie_reads_back_until_it_expires() -> None:
    s = new_session("ana", "scrypt$hash", now=NOW, ttl_s=3600)
    cookie = session_cookie(s, SECRET)
    assert read_session(cookie, SECRET, now=NOW) == s
    assert read_session(cookie, SECRET, now=NOW + 3599) == s
    assert read_session(cookie, SECRET, now=NOW + 3600) is None


def test_a_changed_payload_or_another_secret_breaks_the_signature() -> None:
    cookie = session_cookie(new_session("ana", "h", now=NOW, ttl_s=60), SECRET)
    payload, mac = cookie.split(".")
    doc = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc["u"], doc["exp"] = "root", NOW + 10**9
    forged = base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")
    assert read_session(f"{forged}.{mac}", SECRET, now=NOW) is None
    assert read_session(cookie, "y" * 32, now=NOW) is None
    for junk in ("", ".", "abc", "a.b.c", cookie + "x", "!!!." + mac):
        assert read_session(junk, SECRET, now=NOW) is None
    assert read_session(cookie, "", now=NOW) is None  # no secret configured: no sessions


def test_tokens_of_one_purpose_never_pass_for_another() -> None:
    token = sign(
        {"u": "ana", "iat": NOW, "exp": NOW + 60, "csrf": "c", "pw": "p"}, SECRET, "signin"
    )
    assert unsign(token, SECRET, "signin", now=NOW) is not None
    assert read_session(token, SECRET, now=NOW) is None


def test_each_session_has_its_own_csrf_token() -> None:
    a = new_session("ana", "h", now=NOW, ttl_s=60)
    b = new_session("ana", "h", now=NOW, ttl_s=60)
    assert a.csrf != b.csrf and len(a.csrf) >= 20
    assert csrf_ok(a, a.csrf)
    assert not csrf_ok(a, b.csrf)
    assert not csrf_ok(a, None)
    assert not csrf_ok(a, "")


def test_the_sign_in_form_needs_the_same_fresh_signed_token_twice() -> None:
    token = signin_token(SECRET, now=NOW)
    assert signin_ok(token, token, SECRET, now=NOW + 10)
    assert not signin_ok(token, token, SECRET, now=NOW + 901)  # expired form
    other = signin_token(SECRET, now=NOW)
    assert not signin_ok(token, other, SECRET, now=NOW)  # cookie and field differ
    assert not signin_ok(None, token, SECRET, now=NOW)  # no cookie: a cross-site post
    unsigned = "eyJuIjoiYSIsImV4cCI6OTk5OTk5OTk5OTl9.bad"
    assert not signin_ok(unsigned, unsigned, SECRET, now=NOW)
