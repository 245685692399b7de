"""Property-based fuzzing of event decoding and the ingest pipeline's pure part.

Every input must end applied or dead-lettered, never crash a worker: decode() raises only
SchemaError, the pipeline classifies every record, and building a batch's writes from what
decoded never raises. Inputs: random bytes, random JSON, and valid events with random
mutations (fields dropped, retyped, stretched, unknown fields added).

`make fuzz` runs the same properties with many more examples (FUZZ_EXAMPLES, default
100,000 per property); `make test` runs a few hundred per property.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.settings import Settings
from recommender.store import Snapshot
from schemas import SchemaError, decode
from streams.pipeline import INGEST_TOPICS, BatchResult, Ingest, RawRecord
from tests.unit.schemas.samples import KINDS, VALID

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 1000,  # the quick run in `make test` is repeatable
)
SETTINGS = Settings()
MAX_STRETCH = 200_000  # characters; far past every field's limit

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event of some kind with a few random changes, as bytes."""
    kind = draw(st.sampled_from(KINDS))
    doc: dict[str, Any] = dict(VALID[kind])
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["drop", "retype", "add", "stretch"]))
        if action == "drop" and doc:
            doc.pop(draw(st.sampled_from(sorted(doc))))
        elif action == "retype" and doc:
            doc[draw(st.sampled_from(sorted(doc)))] = draw(json_values)
        elif action == "add":
            doc[draw(st.text(max_size=30))] = draw(json_values)
        elif action == "stretch" and doc:
            key = draw(st.sampled_from(sorted(doc)))
            # Capped: repeated stretches of a stretched value would otherwise ask for GBs.
            doc[key] = (str(doc[key]) * draw(st.integers(2, 200)))[:MAX_STRETCH]
    try:
        return kind, orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # ints beyond 64 bits and the like
        return kind, repr(doc).encode()


raw_values = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: orjson.dumps(v) if _encodable(v) else repr(v).encode()),
    mutated().map(lambda kv: kv[1]),
)


def _encodable(v: object) -> bool:
    try:
        orjson.dumps(v)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


@FUZZ
@given(kind=st.sampled_from(KINDS), raw=raw_values)
def test_decode_accepts_or_names_the_problem(kind: str, raw: bytes) -> None:
    try:
        decode(kind, raw)
    except SchemaError as exc:
        assert exc.reason and exc.reason.startswith(kind)


@FUZZ
@given(
    batch=st.lists(
        st.tuples(st.sampled_from(INGEST_TOPICS), st.one_of(raw_values, st.none())),
        min_size=1,
        max_size=30,
    )
)
def test_every_record_is_applied_or_dead_lettered(batch: list[tuple[str, bytes | None]]) -> None:
    async def no_letters(_: object) -> None:
        raise AssertionError("not called by the pure part")

    ingest = Ingest(SETTINGS, None, no_letters, consumer_name="fuzz")  # type: ignore[arg-type]
    records = [
        RawRecord(SETTINGS.topic(topic), 0, offset, b"k", value)
        for offset, (topic, value) in enumerate(batch)
    ]
    good, bad = ingest._decode(records)
    assert len(good) + len(bad) == len(records)
    assert all(r.reason for r in bad)
    snap = Snapshot(watermarks={}, profiles={}, versions={}, items={})
    result = BatchResult()
    writes, rejected = ingest._build(snap, records, good, result)
    applied = sum(result.applied.values())
    # Every record either counted as applied, or is on its way to the dead-letter topic.
    assert applied + len(rejected) + len(bad) == len(records)
    # Every partition's watermark moves to its last offset, bad records included: a
    # dead-lettered record is done too and must not be read again after a restart.
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = r.offset
    assert writes.watermarks == last
