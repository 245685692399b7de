"""Roles, redirects that stay inside the console, and the same-origin check."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from recommender.console.auth import local_path, same_origin
from recommender.console.config import may


def test_admin_may_do_what_an_analyst_may_and_not_the_other_way() -> None:
    assert may("analyst", "analyst")
    assert may("admin", "analyst")
    assert may("admin", "admin")
    assert not may("analyst", "admin")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/console/customers/u1", "/console/customers/u1"),
        ("/console/overview?x=1", "/console/overview?x=1"),
        (None, "/console"),
        ("https://evil.example/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/v1/admin/users", "/console"),
        ("/console\\@evil", "/console"),
    ],
)
def test_after_sign_in_only_console_paths_are_followed(raw: str | None, expected: str) -> None:
    assert local_path(raw) == expected


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_posts_from_another_origin_are_recognised() -> None:
    assert same_origin(_request({"host": "console:8080"}))  # no Origin: not a browser form
    assert same_origin(_request({"host": "console:8080", "origin": "http://console:8080"}))
    assert not same_origin(_request({"host": "console:8080", "origin": "https://evil"}))
    assert not same_origin(_request({"host": "console:8080", "origin": "null"}))
