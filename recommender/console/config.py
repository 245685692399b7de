"""Console users as configured (``Settings.console_users``) and the roles they may hold."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recommender.console.passwords import parse_hash

Role = Literal["analyst", "admin"]
# Each role may do what the roles before it may do.
ROLE_ORDER: tuple[Role, ...] = ("analyst", "admin")
USER_NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


class ConsoleUser(BaseModel):
    """One console sign-in: a role and a password hash (never the password)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role = Field(description="'analyst' reads; 'admin' also changes kill switches.")
    password: str = Field(
        description="scrypt hash from `python -m recommender console-hash-password`."
    )

    @field_validator("password")
    @classmethod
    def _hashed(cls, v: str) -> str:
        parse_hash(v)  # ValueError names the problem; a plain password is refused here
        return v


def may(role: Role, needed: Role) -> bool:
    """True when ``role`` may do what ``needed`` may (admin includes analyst) (pure)."""
    return ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)
