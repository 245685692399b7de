"""Session datasets for offline next-item evaluation: train/test sessions in time order.

Real data is read from the shared datasets folder (never copied into the repository):
`RECO_DATASETS_DIR`, else `<repo>/../shared/datasets`. A missing dataset raises
`DatasetMissing`, which the CLI reports as skipped.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from recommender.sessionrec import Item

NAMES = ("yoochoose", "diginetica", "synthetic")
YOOCHOOSE_FILES = ("yoochoose-clicks-100k_train_tr.txt", "yoochoose-clicks-100k_train_valid.txt")
DIGINETICA_FILE = "sample_train-item-views.csv"
CLICK_ACTIONS = frozenset({"view", "click", "wishlist", "share"})
TEST_SHARE = 0.2


class Session(NamedTuple):
    """One session: its id, items and click times, in click order."""

    session_id: str | int
    items: list[Item]
    times: list[float]

    @property
    def start(self) -> float:
        """Time of the first click."""
        return self.times[0]

    @property
    def end(self) -> float:
        """Time of the last click."""
        return self.times[-1]


@dataclass(frozen=True, slots=True)
class Dataset:
    """Train and test sessions, each list ordered by session start time."""

    name: str
    train: list[Session]
    test: list[Session]
    source: str  # where it came from, for the report
    catalog: list[dict[str, Any]] | None = None  # item content, when the dataset has any


class DatasetMissing(FileNotFoundError):
    """A dataset file is not there; carries the path for the "skipped" message."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} not found")
        self.path = path


def datasets_dir() -> Path:
    """`RECO_DATASETS_DIR`, else the shared folder next to the repository."""
    env = os.environ.get("RECO_DATASETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def _label(folder: Path) -> str:
    """The folder as reports show it: relative to the default location, so not this host's."""
    if "RECO_DATASETS_DIR" in os.environ:
        return str(folder)
    return f"../shared/datasets/{folder.name}"


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DatasetMissing(path)
    return path


Row = tuple[str | int, Item, float]  # session id, item, click time


def _group(rows: Iterable[Row]) -> list[Session]:
    """Rows -> sessions with clicks in time order (file order on ties), by start time."""
    by_session: dict[str | int, list[tuple[float, int, Item]]] = defaultdict(list)
    for n, (sid, item, ts) in enumerate(rows):
        by_session[sid].append((ts, n, item))
    out = []
    for sid, clicks in by_session.items():
        clicks.sort(key=lambda c: (c[0], c[1]))
        out.append(Session(sid, [c[2] for c in clicks], [c[0] for c in clicks]))
    out.sort(key=lambda s: (s.start, str(s.session_id)))
    return out


def restrict_to_train(train: Sequence[Session], test: Sequence[Session]) -> list[Session]:
    """Test sessions without items unseen in train, keeping those still >= 2 clicks long."""
    known = {i for s in train for i in s.items}
    out = []
    for s in test:
        keep = [n for n, i in enumerate(s.items) if i in known]
        if len(keep) >= 2:
            items, times = [s.items[n] for n in keep], [s.times[n] for n in keep]
            out.append(Session(s.session_id, items, times))
    return out


def _read_yoochoose(path: Path) -> list[Session]:
    def rows() -> Iterable[Row]:
        with path.open() as f:
            next(f)  # header: SessionId ItemId Time
            for line in f:
                sid, item, ts = line.split("\t")
                yield int(sid), int(item), float(ts)

    return _group(rows())


def yoochoose(root: Path | None = None) -> Dataset:
    """session-rec's prepared YOOCHOOSE 100k split, as given (train_tr / train_valid)."""
    base = (root or datasets_dir()) / "yoochoose-100k"
    train_path, test_path = (_need(base / f) for f in YOOCHOOSE_FILES)
    train, test = _read_yoochoose(train_path), _read_yoochoose(test_path)
    return Dataset("yoochoose", train, test, _label(base))


def diginetica(root: Path | None = None, share: float = TEST_SHARE) -> Dataset:
    """The DIGINETICA item-views sample, split by the last days into ~`share` test sessions."""
    base = (root or datasets_dir()) / "diginetica-sample"
    path = _need(base / DIGINETICA_FILE)

    def rows() -> Iterable[Row]:
        with path.open() as f:
            next(f)  # header: session_id;user_id;item_id;timeframe;eventdate
            for line in f:
                sid, _, item, frame, day = line.rstrip("\n").split(";")
                t0 = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
                ts = t0 + int(frame) / 1000.0
                yield int(sid), int(item), ts  # date, then timeframe within it

    sessions = [s for s in _group(rows()) if len(s.items) >= 2]
    return _split(sessions, share, "diginetica", _label(base))


def _split(sessions: list[Session], share: float, name: str, source: str) -> Dataset:
    """Whole last days as test (by each session's last click), test restricted to train items."""
    days = [datetime.fromtimestamp(s.end, UTC).date() for s in sessions]
    cut = _cut_day(days, share)
    train = [s for s, d in zip(sessions, days, strict=True) if d < cut]
    test = [s for s, d in zip(sessions, days, strict=True) if d >= cut]
    return Dataset(name, train, restrict_to_train(train, test), source)


def _cut_day(days: Sequence[date], share: float) -> date:
    """First test day: the last whole days whose session count comes closest to `share`."""
    per_day: dict[date, int] = defaultdict(int)
    for d in days:
        per_day[d] += 1
    target, taken = share * len(days), 0
    ordered = sorted(per_day, reverse=True)
    cut = ordered[0] if ordered else date.min
    for d in ordered:
        if taken and abs(taken + per_day[d] - target) >= abs(taken - target):
            break
        taken += per_day[d]
        cut = d
    return cut


def synthetic(
    seed: int = 1,
    users: int = 2000,
    items: int = 2000,
    events: int = 200_000,
    start_ts: float = 1_767_225_600.0,
    share: float = TEST_SHARE,
) -> Dataset:
    """Item clicks of the synthetic travel world; the last `share` of sessions by start are test."""
    from loadtest.world import World

    def rows() -> Iterable[Row]:
        for rec in World(seed, users, items).events(events, start_ts):
            if rec.topic != "clicks":
                continue
            e = orjson.loads(rec.value)
            if e.get("item_id") and e.get("action") in CLICK_ACTIONS:
                yield str(e["session_id"]), str(e["item_id"]), float(e["ts"])

    sessions = [s for s in _group(rows()) if len(s.items) >= 2]
    cut = len(sessions) - round(share * len(sessions))
    train, test = sessions[:cut], sessions[cut:]
    source = f"loadtest.world.World({seed}, {users}, {items}).events({events}, {start_ts})"
    catalog = World(seed, users, items).catalog()
    return Dataset("synthetic", train, restrict_to_train(train, test), source, catalog)


def load(name: str) -> Dataset:
    """A dataset by name, with its default arguments."""
    if name == "yoochoose":
        return yoochoose()
    if name == "diginetica":
        return diginetica()
    if name == "synthetic":
        return synthetic()
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
