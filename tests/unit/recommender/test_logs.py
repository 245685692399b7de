"""JSON log lines: one object per line, extras as fields, tracebacks kept."""

from __future__ import annotations

import logging

import orjson

from recommender.logs import JsonFormatter, logging_config


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "reco.test", "levelname": "WARNING", "msg": msg})
    rec.args = args
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_a_record_is_one_json_line_with_extras() -> None:
    line = JsonFormatter().format(_record("batch of %d applied", 3, topic="clicks"))
    assert "\n" not in line
    doc = orjson.loads(line)
    assert doc["msg"] == "batch of 3 applied"
    assert doc["level"] == "WARNING" and doc["logger"] == "reco.test"
    assert doc["topic"] == "clicks"
    assert isinstance(doc["ts"], float)


def test_exceptions_keep_their_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = _record("failed")
        rec.exc_info = sys.exc_info()
    doc = orjson.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in doc["exc"]


def test_config_selects_the_formatter() -> None:
    assert logging_config("json")["formatters"]["main"]["()"].endswith("JsonFormatter")
    assert "format" in logging_config("text")["formatters"]["main"]
