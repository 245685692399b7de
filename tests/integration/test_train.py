"""The trainer against the real broker and Redis: read Kafka, fit, save, publish, watch."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
import redis.asyncio as aioredis

from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.world import World
from recommender import train_cli
from recommender.features import price_band, to_base
from recommender.keys import Keys
from recommender.model import ModelWatcher, current_key, load, path_key
from recommender.settings import Settings

pytestmark = pytest.mark.integration

START_TS = 1_767_225_600.0


def write_catalog(client: redis.Redis, keys: Keys, world: World, settings: Settings) -> int:
    """Item metadata in the documented layout (REDIS_KEYS.md), as the catalog worker writes it."""
    pipe = client.pipeline()
    items = world.catalog()
    for item in items:
        base = to_base(item["price"], item["currency"], settings.fx_rates)
        meta = {
            **item,
            "price_base": base,
            "band": price_band(item["item_type"], base),
            "stars": item["attributes"].get("stars"),
            "updated_at": START_TS,
            "vector_source": "content",
        }
        pipe.set(keys.item(item["item_id"]), orjson.dumps(meta))
        pipe.sadd(keys.items(), item["item_id"])
    pipe.execute()
    return len(items)


def run_trainer(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return int(args.fn(args))


def test_train_from_kafka_publishes_a_model_with_destination_structure(
    namespace: dict[str, str],
    stack: Stack,
    rclient: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name, value in namespace.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    keys = Keys(settings.key_prefix)
    world = World(3, n_users=400, n_items=300)
    records = list(world.events(30_000, START_TS, bad_fraction=0.01))

    async def send() -> None:
        topics = [settings.topic("clicks"), settings.topic("bookings")]
        await ensure_topics(stack.kafka_bootstrap, topics, partitions=2)
        await produce(
            records,
            bootstrap=stack.kafka_bootstrap,
            topic_prefix=settings.topic_prefix,
            progress=False,
        )

    asyncio.run(send())
    n_catalog = write_catalog(rclient, keys, world, settings)

    assert run_trainer(["--from", "kafka", "--out", str(tmp_path), "--timeout", "60"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["read"]["records"] == len(records)
    assert summary["read"]["complete"] is True
    assert summary["read"]["skipped"] > 0  # searches and the malformed 1%
    assert summary["catalog_items"] == n_catalog
    assert summary["vectors"]["learned"] > 0.5 * n_catalog
    version = summary["version"]
    assert rclient.get(current_key(keys)) == version.encode()
    published = Path(rclient.get(path_key(keys, version)).decode())  # type: ignore[union-attr]
    assert published == (tmp_path / version).resolve()

    model = load(published)
    assert model.version == version and model.dim == settings.vector_dim
    assert set(model.ids) >= {item["item_id"] for item in world.catalog()}
    assert np.allclose(np.linalg.norm(model.vectors, axis=1), 1.0, atol=1e-5)
    some = next(i for i in model.ids if model.next_items("sr", [i], 5))
    assert model.next_items("covisit", [some], 5)

    # Items of one destination sit nearer each other than random pairs of items.
    dest = {item["item_id"]: item["destination"] for item in world.catalog()}
    rows = {d: [model.index[i] for i in dest if dest[i] == d] for d in set(dest.values())}
    same = [
        float(model.vectors[a] @ model.vectors[b])
        for ix in rows.values()
        for a, b in itertools.combinations(ix[:12], 2)
    ]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(model.ids), size=(2000, 2))
    rand = [float(model.vectors[a] @ model.vectors[b]) for a, b in pairs if a != b]
    assert np.mean(same) > np.mean(rand) + 0.2

    async def watch() -> str | None:
        client = aioredis.Redis.from_url(stack.redis_url)
        try:
            watcher = ModelWatcher(client, keys)
            loaded = await watcher.poll()
            return None if loaded is None else loaded.version
        finally:
            await client.aclose()

    assert asyncio.run(watch()) == version
