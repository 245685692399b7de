"""Structured logs: one JSON object per line on stderr, for log shippers to index.

Fields: ts (Unix s), level, logger, msg, and exc (the traceback) when there is one; any
`extra={...}` given to a log call is added as its own fields. Log calls in this project pass
pseudonymous ids at most, never event payloads, so a log line carries no personal data.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]
# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def logging_config(fmt: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig dictionary: stderr, JSON or plain text."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


def configure(fmt: LogFormat, level: str = "INFO") -> None:
    """Send this process's logs to stderr in the given format."""
    logging.config.dictConfig(logging_config(fmt, level))
