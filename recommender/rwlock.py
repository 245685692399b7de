"""A phase-fair readers-writer lock: many concurrent readers, or one writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Shared for readers, exclusive for a writer; readers and writers take turns.

    A waiting writer holds back newly arriving readers (else a steady query stream would
    starve index updates), and every reader already waiting when a writer finishes goes in
    before the next writer (else a writer applying a batch chunk by chunk would hold
    queries back for the whole batch instead of one chunk). Not reentrant.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0  # holding the lock
        self._readers_waiting = 0
        self._owed = 0  # readers that waited out a write and go before the next one
        self._writing = False
        self._writers_waiting = 0
        self._writes = 0  # completed writes, to tell which readers waited one out

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared for the duration of the block."""
        with self._cond:
            arrived = self._writes
            self._readers_waiting += 1
            try:
                while self._writing or (self._writers_waiting and arrived == self._writes):
                    self._cond.wait()
            finally:  # also when interrupted: an owed turn never taken would block writers
                self._readers_waiting -= 1
                if arrived != self._writes and self._owed:
                    self._owed -= 1
                    if not self._owed:
                        self._cond.notify_all()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock exclusively for the duration of the block."""
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers or self._owed:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._writes += 1
                self._owed = self._readers_waiting
                self._cond.notify_all()
