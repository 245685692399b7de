"""The served OpenAPI document: every error the API can answer, with the body it has.

FastAPI documents a 422 validation error that this API never sends (bad parameters are
400 with `{"error": ...}`), and knows nothing of the errors answered outside its routes
(401/403 key checks, 413/429 from the guard). This rewrites the generated document once so
that a client, or a fuzzer such as schemathesis, can rely on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What is wrong, in words."}},
}
READY_SCHEMA = {
    "title": "Readiness",
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {
        "ready": {"type": "boolean"},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# Status -> description, for every /v1 operation.
V1_ERRORS = {
    "400": "A parameter or the body is invalid; the message names it",
    "401": "No API key, or an unknown one",
    "403": "The API key may not use this endpoint",
    "429": "Over this key's rate limit; see the Retry-After header",
    "503": "A dependency (Redis or the broker) is unavailable",
}
BODY_ERRORS = {"413": "The request body is larger than the configured limit"}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `app`, with the API's real error responses."""
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["Readiness"] = READY_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, ops in doc.get("paths", {}).items():
        for op in ops.values():
            responses: dict[str, Any] = op.setdefault("responses", {})
            responses.pop("422", None)
            errors: dict[str, str] = {}
            if path.startswith("/v1/"):
                errors.update(V1_ERRORS)
            if "requestBody" in op:
                errors.update(BODY_ERRORS)
            for status, text in errors.items():
                responses.setdefault(status, {"description": text})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = _json("Error")
            if path == "/readyz":
                responses["200"]["content"] = _json("Readiness")
                responses["503"] = {"description": "Not ready", "content": _json("Readiness")}
    return doc


def install(app: FastAPI) -> None:
    """Serve `document(app)` (built on first request) as the app's OpenAPI."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
