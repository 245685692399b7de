"""The committed JSON Schema files are current and agree with encoded messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from schemas import ALL_CONTRACTS, TOPIC_MODELS, encode
from schemas.__main__ import main
from schemas.export import JSON_DIR, render_schemas, schema_filename, stale_schemas, write_schemas
from tests.unit.schemas.samples import KINDS, raw, sample

NAMES = {
    "click",
    "booking",
    "catalog_item",
    "price_update",
    "consent",
    "feedback",
    "offer",
    "dead_letter",
}


def committed(kind: str) -> dict[str, Any]:
    """Load the committed schema file of a logical topic."""
    text = (JSON_DIR / schema_filename(TOPIC_MODELS[kind])).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_one_file_per_contract() -> None:
    assert set(render_schemas()) == {f"{name}.v1.json" for name in NAMES}
    assert len(ALL_CONTRACTS) == len(NAMES)


def test_committed_files_are_current() -> None:
    for name, text in render_schemas().items():
        assert (JSON_DIR / name).read_text(encoding="utf-8") == text, f"{name} is stale"
    assert stale_schemas() == []


def test_rendering_is_stable() -> None:
    assert render_schemas() == render_schemas()
    for text in render_schemas().values():
        assert text.endswith("}\n")
        assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_and_documented(kind: str) -> None:
    schema = committed(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].startswith("urn:travel-reco:schema:")
    assert schema["title"] == TOPIC_MODELS[kind].__name__
    assert schema["x-kafka-topic"] == kind
    assert schema["description"]
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{kind}.{name} lacks a description"


@pytest.mark.parametrize("kind", KINDS)
def test_encoded_messages_match_the_committed_schema(kind: str) -> None:
    message = orjson.loads(encode(TOPIC_MODELS[kind].model_validate_json(raw(kind))))
    jsonschema.validate(message, committed(kind), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("clicks", {"action": "search", "destination": None}),
        ("clicks", {"item_id": None}),
        ("clicks", {"currency": None}),
        ("clicks", {"user_id": "a@b.c"}),
        ("clicks", {"v": 2}),
        ("feedback", {"category": None}),
        ("offers", {"items": []}),
        ("catalog", {"attributes": {"stars": [1]}}),
    ],
)
def test_committed_schema_rejects_what_decode_rejects(kind: str, changes: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            sample(kind, **changes), committed(kind), cls=jsonschema.Draft202012Validator
        )


def test_stale_and_extra_files_are_reported(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    (tmp_path / "click.v1.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "booking.v1.json").unlink()
    (tmp_path / "old.v0.json").write_text("{}\n", encoding="utf-8")
    assert stale_schemas(tmp_path) == ["click.v1.json", "booking.v1.json", "old.v0.json"]


def test_cli_check_passes_on_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "current" in capsys.readouterr().out


def test_cli_check_fails_listing_stale_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import schemas.__main__ as cli

    monkeypatch.setattr(cli, "stale_schemas", lambda: ["click.v1.json"])
    assert cli.main(["check"]) == 1
    assert "click.v1.json" in capsys.readouterr().err
