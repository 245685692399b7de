"""Model container: save/load round trip, next-item tables, publishing and the watcher."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from recommender.keys import Keys
from recommender.model import (
    Model,
    ModelError,
    ModelWatcher,
    NextItems,
    current_key,
    load,
    path_key,
    prune,
    publish,
    save,
)
from recommender.sessionrec import CoVisitation, SequentialRules

KEYS = Keys("unit")
SESSIONS = [["a", "b", "c"], ["a", "b", "d"], ["b", "c", "a"], ["d", "a", "b"]]


class FakeRedis:
    """The two calls publishing and watching make, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.gets = 0

    async def get(self, name: str) -> bytes | None:
        self.gets += 1
        return self.data.get(name)

    async def set(self, name: str, value: str) -> bool:
        self.data[name] = value.encode()
        return True


def make_model(seed: int = 0, created_at: float = 1_767_225_600.0) -> Model:
    ids = ["a", "b", "c", "d"]
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((4, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sr, cv = SequentialRules(steps=3), CoVisitation()
    for s in SESSIONS:
        sr.add_session(s, 0.0)
        cv.add_session(s, 0.0)
    index = {item: i for i, item in enumerate(ids)}
    tables = {
        "sr": NextItems.from_rules(sr.rules, index, 2),
        "covisit": NextItems.from_rules(cv.rules, index, 2),
    }
    return Model.create(
        ids, vecs, tables, {"sessions": 4, "nested": {"x": [1, 2]}}, created_at=created_at
    )


def test_version_is_utc_time_plus_content_hash() -> None:
    m = make_model()
    stamp, digest = m.version.split("-")
    assert stamp == "20260101T000000Z"
    assert len(digest) == 8
    assert make_model().version == m.version
    assert make_model(seed=1).version != m.version


def test_save_load_round_trip_is_identical(tmp_path: Path) -> None:
    m = make_model()
    path = save(m, tmp_path)
    assert path == tmp_path / m.version
    assert sorted(p.name for p in path.iterdir()) == [
        "ids.json",
        "meta.json",
        "rules.npz",
        "vectors.npy",
    ]
    back = load(path)
    assert (back.version, back.created_at, back.dim, back.ids) == (
        m.version,
        m.created_at,
        m.dim,
        m.ids,
    )
    assert np.array_equal(back.vectors, m.vectors) and back.vectors.dtype == np.float32
    assert back.stats == m.stats
    assert set(back.tables) == {"sr", "covisit"}
    for name, t in m.tables.items():
        for field in ("indptr", "items", "scores"):
            assert np.array_equal(getattr(back.tables[name], field), getattr(t, field))
    assert back.next_items("sr", ["a"], 5) == m.next_items("sr", ["a"], 5)
    assert back.similar("a", 3) == m.similar("a", 3)
    assert [p.name for p in tmp_path.iterdir()] == [m.version]  # no temporary left behind
    assert save(m, tmp_path) == path  # same version again: nothing rewritten


def test_next_items_keep_the_best_rules_per_item() -> None:
    m = make_model()
    sr = SequentialRules(steps=3)
    for s in SESSIONS:
        sr.add_session(s, 0.0)
    got, want = m.next_items("sr", ["c", "a"], 2), sr.scores(["a"], 2)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])
    assert len(m.next_items("sr", ["a"], 10)) == 2  # top_n = 2 kept
    assert m.next_items("covisit", ["a"], 1) == [("b", 3.0)]
    assert m.next_items("sr", ["zzz"], 5) == []
    assert m.next_items("sr", [], 5) == []


def test_similar_excludes_the_item_and_sorts_by_cosine() -> None:
    m = make_model()
    hits = m.similar("a", 3)
    assert [h[0] for h in hits] != [] and "a" not in [h[0] for h in hits]
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert m.similar("nope", 3) == []


def test_load_rejects_incomplete_or_mismatched_models(tmp_path: Path) -> None:
    path = save(make_model(), tmp_path)
    (path / "rules.npz").unlink()
    with pytest.raises(ModelError, match="incomplete"):
        load(path)
    other = save(make_model(seed=2), tmp_path / "x")
    np.save(other / "vectors.npy", np.zeros((3, 8), dtype=np.float32))
    with pytest.raises(ModelError, match="vectors"):
        load(other)
    with pytest.raises(ModelError):
        load(tmp_path / "missing")


def test_prune_keeps_the_newest_versions(tmp_path: Path) -> None:
    versions = [save(make_model(created_at=1e9 + d * 86_400), tmp_path).name for d in range(4)]
    assert prune(tmp_path, 2, protect=[versions[0]]) == [versions[1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [versions[0], *versions[2:]]


async def test_publish_sets_path_then_current(tmp_path: Path) -> None:
    redis = FakeRedis()
    m = make_model()
    save(m, tmp_path)
    path = await publish(tmp_path, m.version, redis, KEYS)
    assert redis.data[current_key(KEYS)] == m.version.encode()
    assert redis.data[path_key(KEYS, m.version)] == str(path).encode()
    assert current_key(KEYS) == "unit:model:current"
    with pytest.raises(ModelError):
        await publish(tmp_path, "20990101T000000Z-deadbeef", redis, KEYS)


async def test_watcher_picks_up_a_new_version(tmp_path: Path) -> None:
    redis = FakeRedis()
    watcher = ModelWatcher(redis, KEYS)
    assert await watcher.current_version() is None
    assert await watcher.poll() is None and watcher.model is None
    first, second = make_model(seed=1), make_model(seed=2, created_at=1_767_225_700.0)
    save(first, tmp_path)
    await publish(tmp_path, first.version, redis, KEYS)
    loaded = await watcher.poll()
    assert loaded is not None and loaded.version == first.version
    assert await watcher.poll() is None  # unchanged: nothing reloaded
    save(second, tmp_path)
    await publish(tmp_path, second.version, redis, KEYS)
    loaded = await watcher.poll()
    assert loaded is not None and watcher.model is loaded
    assert np.array_equal(loaded.vectors, second.vectors)


async def test_watcher_keeps_serving_the_old_model_when_the_new_one_is_broken(
    tmp_path: Path,
) -> None:
    redis = FakeRedis()
    good = make_model()
    save(good, tmp_path)
    await publish(tmp_path, good.version, redis, KEYS)
    watcher = ModelWatcher(redis, KEYS)
    await watcher.poll()
    redis.data[current_key(KEYS)] = b"20990101T000000Z-00000000"
    redis.data[path_key(KEYS, "20990101T000000Z-00000000")] = str(tmp_path / "gone").encode()
    assert await watcher.poll() is None
    assert watcher.model is not None and watcher.model.version == good.version
    gets = redis.gets
    assert await watcher.poll() is None  # the broken version is not retried at once
    assert redis.gets == gets + 1


async def test_watcher_falls_back_to_root_without_a_published_path(tmp_path: Path) -> None:
    redis = FakeRedis()
    m = make_model()
    save(m, tmp_path)
    redis.data[current_key(KEYS)] = m.version.encode()
    assert await ModelWatcher(redis, KEYS).poll() is None
    loaded = await ModelWatcher(redis, KEYS, root=tmp_path).poll()
    assert loaded is not None and loaded.version == m.version


async def test_watcher_run_reports_changes_until_cancelled(tmp_path: Path) -> None:
    redis = FakeRedis()
    m = make_model()
    save(m, tmp_path)
    await publish(tmp_path, m.version, redis, KEYS)
    seen: list[str] = []
    changed = asyncio.Event()

    def on_change(model: Model) -> None:
        seen.append(model.version)
        changed.set()

    task = asyncio.create_task(ModelWatcher(redis, KEYS).run(0.01, on_change))
    await asyncio.wait_for(changed.wait(), 5)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [m.version]
