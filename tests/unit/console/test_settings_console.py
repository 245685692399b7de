"""Console settings: users as JSON with hashed passwords, a strong secret, a bounded TTL."""

from __future__ import annotations

import orjson
import pytest

from recommender.console.passwords import hash_password
from recommender.errors import ConfigError
from recommender.settings import load_settings

HASH = hash_password("a-long-password", n=2**10)
SECRET = "k" * 32


def _users(**users: dict[str, str]) -> str:
    return orjson.dumps(users).decode()


def test_users_and_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_CONSOLE_USERS", _users(ana={"role": "analyst", "password": HASH}))
    monkeypatch.setenv("RECO_CONSOLE_SECRET", SECRET)
    s = load_settings()
    assert s.console_users["ana"].role == "analyst"
    assert s.console_secret.get_secret_value() == SECRET
    assert s.console_session_ttl_s == 8 * 3600
    assert SECRET not in repr(s)  # the secret never shows in logs of the settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RECO_CONSOLE_USERS": "{not json"}, "RECO_CONSOLE_USERS): not JSON"),
        (
            {"RECO_CONSOLE_USERS": _users(ana={"role": "analyst", "password": "plain"})},
            "RECO_CONSOLE_USERS): not a password hash",
        ),
        (
            {"RECO_CONSOLE_USERS": _users(ana={"role": "boss", "password": HASH})},
            "RECO_CONSOLE_USERS",
        ),
        (
            {"RECO_CONSOLE_USERS": orjson.dumps({"a b": {"role": "admin", "password": HASH}})},
            "user names must match",
        ),
        (
            {
                "RECO_CONSOLE_USERS": _users(ana={"role": "admin", "password": HASH}),
                "RECO_CONSOLE_SECRET": "short",
            },
            "RECO_CONSOLE_SECRET): console users are set",
        ),
        ({"RECO_CONSOLE_SESSION_TTL_S": "5"}, "RECO_CONSOLE_SESSION_TTL_S"),
    ],
)
def test_wrong_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str | bytes], expected: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v.decode() if isinstance(v, bytes) else v)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_settings()
