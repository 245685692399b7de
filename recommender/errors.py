"""Errors raised by the project.

    RecoError
    ├── ConfigError          wrong settings; raised at start-up with the bad value named
    ├── StackError           the embedded broker/Redis could not be started
    ├── StoreError           Redis misbehaved beyond the retry budget (never swallowed)
    │   └── ConflictError    optimistic write lost to a concurrent writer; retry the batch
    ├── ModelError           a model directory is incomplete or its parts do not match
    ├── SnapshotError        an index snapshot is unreadable (also a ValueError)
    └── BadEvent             one event cannot be applied; becomes a dead letter, never a crash

Schema violations are ``schemas.SchemaError``; the pipeline turns them into dead letters
just like ``BadEvent``.
"""

from __future__ import annotations


class RecoError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(RecoError):
    """Settings are wrong; the message says which and why."""


class StackError(RecoError):
    """The embedded development stack could not be started."""


class StoreError(RecoError):
    """The online store failed beyond the retry budget."""


class ConflictError(StoreError):
    """Another writer changed the keys this batch read; reload and apply again."""


class ModelError(RecoError):
    """A model directory is missing parts or they do not belong together."""


class SnapshotError(RecoError, ValueError):
    """An index snapshot cannot be read back."""


class BadEvent(RecoError):
    """A well-formed event that still cannot be applied (for example a wrong vector size)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
