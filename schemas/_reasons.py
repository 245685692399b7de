"""Turns a pydantic error into a short one-line reason that names the field."""

from __future__ import annotations

import re
import reprlib
from typing import Any

from pydantic_core import ErrorDetails

from schemas._base import RULE_ERROR_TYPES

MAX_REASON = 299  # callers are promised fewer than 300 chars
_COMPARISONS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}
_SHOULD = re.compile(r"^(?:Input|String|Value|List|Dictionary|Object) should ")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxlong = 1, 4, 4, 40


def describe(kind: str, error: ErrorDetails) -> tuple[str, str | None]:
    """Return (reason, dotted field path or None) for one pydantic error."""
    loc = ".".join(str(part) for part in error["loc"])
    etype, msg, ctx = error["type"], error["msg"], error.get("ctx") or {}
    field: str | None = loc or None
    if etype == "json_invalid":
        text = f"not valid JSON: {ctx.get('error', msg)}"
    elif not loc and etype in ("model_type", "model_attributes_type", "dict_type"):
        text = f"value must be a JSON object (got {_json_type(error['input'])})"
    elif etype in RULE_ERROR_TYPES:
        field = ".".join(part for part in (loc, str(ctx["field"])) if part)
        text = f"field '{field}' {ctx['detail']}"
    elif loc == "v" and etype == "less_than_equal":
        got = _show(error["input"])
        text = f"schema version v={got} is newer than supported v={ctx['le']}"
    elif not loc:
        text = msg
    elif etype == "missing":
        text = f"field '{loc}' is required"
    elif etype in _COMPARISONS:
        op, key = _COMPARISONS[etype]
        limit = _show(ctx[key])
        text = f"field '{loc}' must be a number {op} {limit} (got {_show(error['input'])})"
    else:
        got = _show(error["input"], echo_strings=etype == "literal_error")
        text = f"field '{loc}' {_SHOULD.sub('must ', msg)} (got {got})"
    reason = f"{kind}: {text}"
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    return reason, field


def _show(value: Any, echo_strings: bool = False) -> str:
    """Echo a value briefly; free-form strings only by length, as they may hold personal data."""
    if isinstance(value, str):
        return _repr.repr(value) if echo_strings else f"a string of {len(value)} chars"
    if isinstance(value, (dict, list)):
        return f"an {_json_type(value)}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)  # '0' reads better than '0.0' in a limit
    try:
        return _repr.repr(value)
    except ValueError:  # ints beyond sys.get_int_max_str_digits() cannot be printed
        return "a huge number"


def _json_type(value: Any) -> str:
    """Name the JSON type of a parsed value."""
    return _JSON_TYPES.get(type(value), "number")
