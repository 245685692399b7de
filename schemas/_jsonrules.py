"""JSON Schema fragments for cross-field rules, so non-Python readers see them too."""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


def _non_null(fields: list[str]) -> JsonDict:
    """Require fields to be present and not null."""
    return {"required": fields, "properties": {f: {"not": {"type": "null"}} for f in fields}}


def required_when(field: str, values: list[str], required: list[str]) -> JsonDict:
    """When field is one of values, the required fields must be present and not null."""
    return {
        "if": {"properties": {field: {"enum": values}}, "required": [field]},
        "then": _non_null(required),
    }


def required_with(field: str, required: list[str]) -> JsonDict:
    """When field is present and not null, the required fields must be too."""
    return {"if": _non_null([field]), "then": _non_null(required)}


def rules(*fragments: JsonDict) -> JsonDict:
    """Wrap rule fragments as the allOf keyword for json_schema_extra."""
    return {"allOf": list(fragments)}
