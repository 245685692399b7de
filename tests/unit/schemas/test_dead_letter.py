"""DeadLetter keeps the original record bytes and never fails on long reasons."""

from __future__ import annotations

import pytest

from schemas import DeadLetter, decode_dead_letter, encode
from tests.unit.schemas.samples import TS


@pytest.mark.parametrize("value", [b'{"user_id": 1}', b"\xff\x00garbage", b"", None])
@pytest.mark.parametrize("key", [b"u_8f3a", b"", None])
def test_of_keeps_original_bytes(value: bytes | None, key: bytes | None) -> None:
    letter = DeadLetter.of(
        "clicks: field 'user_id' must be a valid string",
        "string_type",
        "clicks",
        2,
        99,
        key,
        value,
        "reco-features",
        TS,
    )
    assert letter.original_value() == (value or b"")
    assert letter.original_key() == key
    again = decode_dead_letter(encode(letter))
    assert again == letter
    assert again.original_value() == (value or b"")


def test_null_value_is_an_empty_string() -> None:
    letter = DeadLetter.of("empty", "empty", "clicks", 0, 0, None, None, "c", TS)
    assert letter.value_b64 == ""
    assert letter.key_b64 is None


def test_long_multi_line_reason_is_flattened_and_truncated() -> None:
    reason = "Traceback:\n" + "  frame\n" * 1000
    letter = DeadLetter.of(reason, "X" * 500, "clicks", 0, 1, None, b"{}", "c", TS)
    assert "\n" not in letter.reason
    assert len(letter.reason) <= 2000
    assert len(letter.error_type) <= 200


def test_ts_defaults_to_now() -> None:
    letter = DeadLetter.of("r", "e", "clicks", 0, 1, None, b"{}", "c")
    assert letter.ts > TS
