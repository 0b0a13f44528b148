"""SQLite store for local-scope state under the data root.

WAL mode with synchronous=NORMAL: a commit survives a crash of the daemon
process (the case that matters here); only a power loss may drop the last
commits.  Objects are msgspec-encoded JSON, one row per id.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import Iterator

import msgspec

from .api import KINDS, Store, T


class SqliteStore(Store):
    """A Store in one SQLite file (tables networks, endpoints, containers)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for kind in KINDS:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {kind} (id TEXT PRIMARY KEY, data BLOB NOT NULL)")
        self._depth = 0
        self._enc = msgspec.json.Encoder()

    @contextlib.contextmanager
    def transaction(self):
        """Group writes: nested uses join the outermost transaction."""
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    def put(self, kind: str, obj_id: str, obj: msgspec.Struct) -> None:
        """Insert or replace one object (autocommits outside a transaction)."""
        self._db.execute(f"INSERT OR REPLACE INTO {kind} (id, data) VALUES (?, ?)",
                         (obj_id, self._enc.encode(obj)))

    def delete(self, kind: str, obj_id: str) -> None:
        """Remove one object."""
        self._db.execute(f"DELETE FROM {kind} WHERE id = ?", (obj_id,))

    def load(self, kind: str, typ: type[T]) -> Iterator[T]:
        """Decode every row of a kind."""
        dec = msgspec.json.Decoder(typ)
        for (data,) in self._db.execute(f"SELECT data FROM {kind}").fetchall():
            yield dec.decode(data)

    def close(self) -> None:
        """Close the database."""
        self._db.close()
