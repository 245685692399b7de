"""Training sessions shipped with a model, so the API can run session kNN on live sessions.

Session kNN (V-SKNN) is the strongest next-item method on public session data, and it needs
the past sessions themselves rather than a summary: the model keeps the most recent ones as
CSR rows over the model's item order (``sessions.npz``: ``indptr`` int64, ``items`` int32).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recommender.errors import ModelError
from recommender.sessionrec import VSKNN

FILE = "sessions.npz"


@dataclass(frozen=True, slots=True)
class Sessions:
    """Past sessions, oldest first: row s is items[indptr[s]:indptr[s + 1]] in click order."""

    indptr: npt.NDArray[np.int64]
    items: npt.NDArray[np.int32]

    @classmethod
    def from_lists(
        cls, sessions: Sequence[Sequence[str]], index: Mapping[str, int], keep: int
    ) -> Sessions:
        """The last `keep` sessions (in the given, oldest-first order) over known items."""
        rows: list[list[int]] = []
        for s in sessions[-keep:] if keep > 0 else ():
            row = [index[i] for i in s if i in index]
            if len(row) >= 1:
                rows.append(row)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows], dtype=np.int64)
        flat = [i for r in rows for i in r]
        return cls(indptr, np.asarray(flat, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def save(self, folder: Path) -> None:
        """Write ``sessions.npz`` into a model folder."""
        np.savez(folder / FILE, indptr=self.indptr, items=self.items)

    @classmethod
    def load(cls, folder: Path, n_items: int) -> Sessions:
        """Read and check ``sessions.npz`` against a model of `n_items` items."""
        with np.load(folder / FILE, allow_pickle=False) as z:
            out = cls(z["indptr"], z["items"])
        size = len(out.items)
        bad = size > 0 and not 0 <= int(out.items.min()) <= int(out.items.max()) < n_items
        if len(out.indptr) < 1 or int(out.indptr[-1]) != size or bad:
            raise ModelError(f"{folder}: sessions do not match {n_items} items")
        return out

    def knn(self, ids: Sequence[str]) -> VSKNN:
        """A V-SKNN over these sessions; session order stands in for time (newest last)."""
        # session-rec's V-SKNN settings (conf/example_next.yml), as `loadtest eval` runs them.
        model = VSKNN(
            k=500, sample_size=5000, weighting="quadratic", weighting_score="div", idf_weighting=5
        )
        indptr, items = self.indptr.tolist(), self.items.tolist()
        for s in range(len(self)):
            model.add_session([ids[i] for i in items[indptr[s] : indptr[s + 1]]], float(s))
        return model
