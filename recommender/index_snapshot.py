"""Item index snapshots on disk: a directory with the faiss index, the id map and metadata.

Layout of ``<path>/``:

- ``index.faiss`` — ``faiss.write_index`` output (IVF lists or flat vectors, int64 ids);
- ``keys.jsonl``  — JSON arrays, one per line, that concatenated give the item id behind
  faiss id i at position i (null = removed); lines keep each parse short (see index_core);
- ``meta.json``   — format, dim, version, built_at, build size, churn, params.

A snapshot is written to a sibling temporary directory and renamed into place, so a replica
never loads a half-written one; it may, for a moment during the swap, find none at all
(FileNotFoundError: retry).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import faiss
import orjson

from recommender.errors import SnapshotError
from recommender.index_core import SLICE, yield_gil

FORMAT = 1
INDEX_FILE = "index.faiss"
KEYS_FILE = "keys.jsonl"
META_FILE = "meta.json"


def write_snapshot(
    path: str | os.PathLike[str], index: faiss.Index, keys: list[str | None], meta: dict[str, Any]
) -> None:
    """Write index + id map + metadata to the directory ``path``, replacing it atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        faiss.write_index(index, str(tmp / INDEX_FILE))
        with open(tmp / KEYS_FILE, "wb") as f:
            for start in range(0, len(keys), SLICE):
                f.write(orjson.dumps(keys[start : start + SLICE]) + b"\n")
                yield_gil()
        doc = {**meta, "format": FORMAT, "ntotal": int(index.ntotal), "slots": len(keys)}
        (tmp / META_FILE).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_snapshot(
    path: str | os.PathLike[str],
) -> tuple[faiss.Index, list[str | None], dict[str, Any]]:
    """Read (faiss index, keys, meta) from ``path`` and check they belong together."""
    root = Path(path)
    meta = orjson.loads((root / META_FILE).read_bytes())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SnapshotError(f"{root}: unsupported snapshot format {meta.get('format')!r}")
    keys: list[str | None] = []
    with open(root / KEYS_FILE, "rb") as f:
        for line in f:
            keys.extend(orjson.loads(line))
            yield_gil()
    if len(keys) != meta["slots"]:
        raise SnapshotError(f"{root}: {KEYS_FILE} does not match {META_FILE}")
    index = faiss.read_index(str(root / INDEX_FILE))
    live = sum(1 for k in keys if k is not None)
    if int(index.ntotal) != meta["ntotal"] or live != meta["ntotal"] or index.d != meta["dim"]:
        raise SnapshotError(
            f"{root}: index holds {index.ntotal} x {index.d}, "
            f"id map {live} live ids, meta {meta['ntotal']} x {meta['dim']}"
        )
    return index, keys, meta
