"""A trained model: item vectors plus next-item tables, versioned on disk, published in Redis.

Layout of ``<root>/<version>/`` (written to a temporary sibling and renamed into place, so a
reader never sees half a model):

- ``vectors.npy`` — float32, one unit row per item, in ``ids.json`` order;
- ``ids.json``    — the item ids;
- ``rules.npz``   — per table (``sr`` sequential rules, ``covisit`` co-visitation), the top-N
  next items of every item as CSR arrays ``<t>_indptr`` (int64), ``<t>_items`` (int32 row of
  ``ids.json``), ``<t>_scores`` (float32, best first);
- ``sessions.npz`` — optional: past sessions for session kNN (recommender.model_sessions);
- ``meta.json``   — format, version, created_at, dim, counts, training stats and params.

Versions are ``YYYYmmddTHHMMSSZ-<8 hex of the content hash>`` (UTC), so they sort by time.
Publishing sets ``<prefix>:model:<version>:path`` and then ``<prefix>:model:current``;
``ModelWatcher`` polls the latter and loads a new version in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
from redis.exceptions import RedisError

from recommender.errors import ModelError as ModelError  # re-exported for callers
from recommender.keys import Keys
from recommender.model_sessions import Sessions
from recommender.sessionrec import Item, Scored

log = logging.getLogger(__name__)

FORMAT = 1
TABLES = ("sr", "covisit")
Matrix = npt.NDArray[np.float32]


def current_key(keys: Keys) -> str:
    """String: the version every API replica should serve (Keys.model_current)."""
    return keys.model_current()


def path_key(keys: Keys, version: str) -> str:
    """String: the directory holding that model version (Keys.model_path)."""
    return keys.model_path(version)


@dataclass(frozen=True, slots=True)
class NextItems:
    """Top-N next items per item, as CSR rows over the model's item order."""

    indptr: npt.NDArray[np.int64]
    items: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]

    @classmethod
    def from_rules(
        cls, rules: Mapping[Item, Mapping[Item, float]], index: Mapping[str, int], top_n: int
    ) -> NextItems:
        """Keep the `top_n` best of each row of a fitted SequentialRules / CoVisitation."""
        indptr = np.zeros(len(index) + 1, dtype=np.int64)
        items: list[int] = []
        scores: list[float] = []
        for item, ix in index.items():  # index order is row order
            row = [(index[str(b)], s) for b, s in rules.get(item, {}).items() if str(b) in index]
            row.sort(key=lambda e: (-e[1], e[0]))
            items.extend(b for b, _ in row[:top_n])
            scores.extend(s for _, s in row[:top_n])
            indptr[ix + 1] = len(items)
        return cls(indptr, np.asarray(items, np.int32), np.asarray(scores, np.float32))

    def row(self, ix: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """Next items (rows) and scores of item row `ix`, best first."""
        lo, hi = int(self.indptr[ix]), int(self.indptr[ix + 1])
        return self.items[lo:hi], self.scores[lo:hi]


@dataclass(frozen=True, eq=False)
class Model:
    """One trained model version."""

    version: str
    created_at: float  # Unix s
    dim: int
    ids: tuple[str, ...]
    vectors: Matrix  # (len(ids), dim), unit rows
    tables: Mapping[str, NextItems]  # "sr", "covisit"
    stats: Mapping[str, Any] = field(default_factory=dict)
    sessions: Sessions | None = None  # past sessions for session kNN, when trained with them

    @classmethod
    def create(
        cls,
        ids: Sequence[str],
        vectors: Matrix,
        tables: Mapping[str, NextItems],
        stats: Mapping[str, Any],
        *,
        created_at: float,
        sessions: Sessions | None = None,
    ) -> Model:
        """A model whose version is its creation time (UTC) plus a hash of its content."""
        h = hashlib.blake2b(orjson.dumps(list(ids)), digest_size=4)
        h.update(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
        for name in sorted(tables):
            t = tables[name]
            for arr in (t.indptr, t.items, t.scores):
                h.update(np.ascontiguousarray(arr).tobytes())
        if sessions is not None:
            h.update(np.ascontiguousarray(sessions.indptr).tobytes())
            h.update(np.ascontiguousarray(sessions.items).tobytes())
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(
            f"{stamp}-{h.hexdigest()}",
            created_at,
            vecs.shape[1],
            tuple(ids),
            vecs,
            dict(tables),
            dict(stats),
            sessions,
        )

    @cached_property
    def index(self) -> dict[str, int]:
        """Row of each item id."""
        return {item: i for i, item in enumerate(self.ids)}

    def vector(self, item_id: str) -> Matrix | None:
        """The item's unit vector, or None when the model does not know it."""
        ix = self.index.get(item_id)
        return None if ix is None else self.vectors[ix]

    def similar(self, item_id: str, k: int) -> Scored:
        """The k items nearest by cosine (exact; for tools and tests, not the serving path)."""
        ix = self.index.get(item_id)
        if ix is None or k < 1:
            return []
        sims = self.vectors @ self.vectors[ix]
        sims[ix] = -np.inf
        best = np.argsort(-sims, kind="stable")[:k]
        return [(self.ids[i], float(sims[i])) for i in best.tolist()]

    def next_items(self, table: str, current_session: Sequence[Item], k: int) -> Scored:
        """Like SequentialRules.scores: the best next items after the session's last click."""
        ix = self.index.get(str(current_session[-1])) if current_session else None
        if ix is None:
            return []
        items, scores = self.tables[table].row(ix)
        return [
            (self.ids[i], s) for i, s in zip(items[:k].tolist(), scores[:k].tolist(), strict=True)
        ]


def save(model: Model, root: str | os.PathLike[str]) -> Path:
    """Write the model to ``root/<version>/`` atomically; returns that directory."""
    target = Path(root) / model.version
    if (target / "meta.json").is_file():
        return target  # same version = same content
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model.version}.", dir=target.parent))
    try:
        np.save(tmp / "vectors.npy", model.vectors, allow_pickle=False)
        (tmp / "ids.json").write_bytes(orjson.dumps(list(model.ids)))
        arrays = {}
        for name, t in model.tables.items():
            arrays.update(
                {f"{name}_indptr": t.indptr, f"{name}_items": t.items, f"{name}_scores": t.scores}
            )
        np.savez(tmp / "rules.npz", **arrays)  # type: ignore[arg-type]
        if model.sessions is not None:
            model.sessions.save(tmp)
        meta = {
            "format": FORMAT,
            "version": model.version,
            "created_at": model.created_at,
            "dim": model.dim,
            "items": len(model.ids),
            "tables": sorted(model.tables),
            "sessions": len(model.sessions) if model.sessions is not None else None,
            "stats": model.stats,
        }
        opts = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        (tmp / "meta.json").write_bytes(orjson.dumps(meta, option=opts))
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load(path: str | os.PathLike[str]) -> Model:
    """Read a model directory written by `save` (a plain blocking call: run it in a thread)."""
    root = Path(path)
    try:
        meta = orjson.loads((root / "meta.json").read_bytes())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelError(f"{root}: unsupported model format {meta.get('format')!r}")
        ids = orjson.loads((root / "ids.json").read_bytes())
        vectors = np.load(root / "vectors.npy", allow_pickle=False)
        with np.load(root / "rules.npz", allow_pickle=False) as z:
            tables = {
                t: NextItems(z[f"{t}_indptr"], z[f"{t}_items"], z[f"{t}_scores"])
                for t in meta.get("tables", [])
            }
    except (FileNotFoundError, KeyError, orjson.JSONDecodeError) as exc:
        raise ModelError(f"{root}: incomplete model ({exc})") from exc
    n = len(ids)
    if vectors.shape != (n, meta["dim"]) or vectors.dtype != np.float32:
        raise ModelError(
            f"{root}: vectors are {vectors.shape} {vectors.dtype}, meta says {n} x {meta['dim']}"
        )
    for name, t in tables.items():
        size = len(t.items)
        bad_rows = size > 0 and not 0 <= int(t.items.min()) <= int(t.items.max()) < n
        if len(t.indptr) != n + 1 or int(t.indptr[-1]) != size or size != len(t.scores) or bad_rows:
            raise ModelError(f"{root}: table {name!r} does not match {n} items")
    vectors.setflags(write=False)
    sessions = Sessions.load(root, n) if meta.get("sessions") is not None else None
    return Model(
        meta["version"],
        float(meta["created_at"]),
        int(meta["dim"]),
        tuple(ids),
        vectors,
        tables,
        meta.get("stats", {}),
        sessions,
    )


def prune(root: str | os.PathLike[str], keep: int, protect: Sequence[str] = ()) -> list[str]:
    """Delete all but the newest `keep` versions under root, never `protect`; returns them."""
    base = Path(root)
    if not base.is_dir():
        return []
    versions = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    doomed = [v for v in versions[: max(0, len(versions) - keep)] if v not in protect]
    for v in doomed:
        shutil.rmtree(base / v, ignore_errors=True)
    return doomed


class VersionStore(Protocol):
    """The two Redis calls publishing and watching make (redis.asyncio.Redis has them)."""

    def get(self, name: str, /) -> Awaitable[bytes | str | None]: ...

    def set(self, name: str, value: str, /) -> Awaitable[Any]: ...


async def publish(
    root: str | os.PathLike[str], version: str, client: VersionStore, keys: Keys
) -> Path:
    """Make `version` (a directory under root) the current model for every reader."""
    path = (Path(root) / version).resolve()
    if not (path / "meta.json").is_file():
        raise ModelError(f"{path}: no model to publish")
    await client.set(path_key(keys, version), str(path))
    await client.set(current_key(keys), version)  # last: readers find the path already set
    return path


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


class ModelWatcher:
    """Follows the published model: `poll()` loads a new version in a thread, else keeps the old."""

    def __init__(
        self,
        client: VersionStore,
        keys: Keys,
        *,
        root: str | os.PathLike[str] | None = None,
        loader: Callable[[Path], Model] = load,
        retry_s: float = 60.0,
    ) -> None:
        self._client = client
        self._keys = keys
        self._root = None if root is None else Path(root)  # used when no path was published
        self._loader = loader
        self._retry_s = retry_s
        self._failed: tuple[str, float] | None = None  # version that failed to load, when
        self.model: Model | None = None

    async def current_version(self) -> str | None:
        """The published version (one Redis GET), None when nothing is published."""
        return _text(await self._client.get(current_key(self._keys)))

    async def poll(self) -> Model | None:
        """Load the published version if it is new; returns the new model, else None."""
        version = await self.current_version()
        if version is None or (self.model is not None and self.model.version == version):
            return None
        if self._failed and self._failed[0] == version and time.monotonic() < self._failed[1]:
            return None  # a broken version is retried now and then, not on every poll
        path = _text(await self._client.get(path_key(self._keys, version)))
        if path is not None:
            target = Path(path)
        elif self._root is not None:
            target = self._root / version
        else:
            log.warning("model %s is published without a path", version)
            self._failed = (version, time.monotonic() + self._retry_s)
            return None
        try:
            model = await asyncio.to_thread(self._loader, target)
        except (OSError, ModelError) as exc:
            log.warning("cannot load model %s: %s", version, exc)
            self._failed = (version, time.monotonic() + self._retry_s)
            return None
        self.model, self._failed = model, None
        return model

    async def run(
        self, interval_s: float, on_change: Callable[[Model], object] | None = None
    ) -> None:
        """Poll every `interval_s` until cancelled; Redis outages are logged and outlived."""
        while True:
            try:
                model = await self.poll()
            except (RedisError, OSError) as exc:
                log.warning("model poll failed: %s", exc)
                model = None
            if model is not None and on_change is not None:
                on_change(model)
            await asyncio.sleep(interval_s)
