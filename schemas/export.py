"""Generates the JSON Schema contract files in schemas/json/ and checks they are current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas._base import SUPPORTED_VERSION, Contract
from schemas.codec import ALL_CONTRACTS

JSON_DIR = Path(__file__).resolve().parent / "json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_filename(model: type[Contract]) -> str:
    """Return the file name of a contract's schema, e.g. 'click.v1.json'."""
    return f"{model.SCHEMA_NAME}.v{SUPPORTED_VERSION}.json"


def schema_for(model: type[Contract]) -> dict[str, Any]:
    """Return the JSON Schema of one contract with $id, title and Kafka metadata."""
    schema = model.model_json_schema(mode="validation")
    key = model.KEY_FIELD
    keyed = f"keyed by {key}" if key else "unkeyed"
    schema.update(
        {
            "$schema": DIALECT,
            "$id": f"urn:travel-reco:schema:{model.SCHEMA_NAME}:v{SUPPORTED_VERSION}",
            "title": model.__name__,
            "description": (
                f"{schema.get('description', '')} Topic '{model.KIND}', {keyed}. "
                "UTF-8 JSON object; unknown fields are allowed and ignored, but keys that "
                "name personal data (name, email, phone, passport, address, ...) are rejected."
            ).strip(),
            "x-kafka-topic": model.KIND,
            "x-kafka-key": key,
        }
    )
    return schema


def render_schemas() -> dict[str, str]:
    """Return {file name: file text} for every contract, byte-stable across runs."""
    return {
        schema_filename(model): json.dumps(schema_for(model), indent=2, sort_keys=True) + "\n"
        for model in ALL_CONTRACTS
    }


def write_schemas(directory: Path = JSON_DIR) -> list[Path]:
    """Write every schema file into directory and return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = JSON_DIR) -> list[str]:
    """Return names of schema files that are missing, outdated or no longer generated."""
    expected = render_schemas()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]
    stale += sorted(path.name for path in directory.glob("*.json") if path.name not in expected)
    return stale
