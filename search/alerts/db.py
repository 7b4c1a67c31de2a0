"""The alerts database: saved searches, their matches, the percolation cursor, webhook deliveries.

SQLite (standard library) in WAL mode beside the index, never in Whoosh: readers (API workers)
never wait for the writer, and one transaction records a commit's matches together with the
cursor that says they were recorded, so a crash and re-run records nothing twice.
The schema is versioned in `schema_version`; `connect()` creates or upgrades it.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search.processes import pid_alive

DB_NAME = "alerts.sqlite3"
SCHEMA_VERSION = 2
# How long a connection waits for another process's write transaction (a percolation holds
# one for up to a couple of seconds) before giving up with "database is locked".
BUSY_TIMEOUT_SECONDS = 30.0
# Bytes of randomness in a webhook secret (64 hex characters).
SECRET_BYTES = 32

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    search TEXT NOT NULL,
    webhook_url TEXT,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    start_seq INTEGER NOT NULL,
    seen_match INTEGER NOT NULL DEFAULT 0,
    estimated_per_day REAL NOT NULL DEFAULT 0,
    too_broad INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    passage_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    seq INTEGER NOT NULL,
    matched_at TEXT NOT NULL,
    hit TEXT NOT NULL,
    UNIQUE (alert_id, passage_id, content_hash)
);
CREATE INDEX IF NOT EXISTS matches_by_alert ON matches (alert_id, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reserved_seqs (
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    owner INTEGER NOT NULL,
    slice TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    http_status INTEGER,
    error TEXT
);
"""
# Counter names: the last sequence number handed out, and the last one percolated.
NEXT_SEQ = "seq"
CURSOR = "cursor"
# Delivery states.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


# No range reserved: a floor above every number.
NO_FLOOR = 2**62


def open_floor(conn: sqlite3.Connection) -> int:
    """The lowest sequence number reserved by a live syncer and not committed yet (NO_FLOOR:
    none); ranges whose syncer died are dropped here, their numbers unused."""
    rows = conn.execute("SELECT DISTINCT owner FROM reserved_seqs").fetchall()
    for row in rows:
        if not pid_alive(row["owner"]):
            conn.execute("DELETE FROM reserved_seqs WHERE owner = ?", (row["owner"],))
    found = conn.execute("SELECT MIN(first) AS low FROM reserved_seqs").fetchone()
    return NO_FLOOR if found["low"] is None else int(found["low"])


class AlertNotFound(LookupError):
    """No saved search has this id."""


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def db_path(index_dir: str | os.PathLike[str]) -> Path:
    """Where the alerts database lives: in the index directory, beside the Whoosh files."""
    return Path(index_dir) / DB_NAME


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A connection in WAL mode with the schema created (autocommit; use `transaction`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # WAL with synchronous=NORMAL is durable at every checkpoint and never corrupts.
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        row = None  # a new database: no tables yet
    if row is None or row["version"] < SCHEMA_VERSION:
        # Created (or upgraded) once, under the write lock; later connections only read this.
        with transaction(conn):
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            found = conn.execute("SELECT version FROM schema_version").fetchone()
            if found is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
    elif row["version"] > SCHEMA_VERSION:
        conn.close()
        raise RuntimeError(
            f"{path} has alerts schema {row['version']}; this code knows {SCHEMA_VERSION}"
        )
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): one writer at a time, all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def counter(conn: sqlite3.Connection, name: str) -> int | None:
    """A counter's value, or None when it was never set."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row["value"])


def set_counter(conn: sqlite3.Connection, name: str, value: int) -> None:
    """Set a counter (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


@dataclass
class Alert:
    """A saved search: its /api/search parameters, webhook, and how far it has been read."""

    id: int
    name: str
    search: dict[str, Any]
    webhook_url: str | None
    secret: str
    created_at: str
    updated_at: str
    start_seq: int
    seen_match: int
    estimated_per_day: float
    too_broad: bool
    hits: int = 0
    unseen: int = 0
    last_hit_at: str | None = None


def _alert(row: sqlite3.Row) -> Alert:
    keys = row.keys()
    return Alert(
        id=row["id"],
        name=row["name"],
        search=json.loads(row["search"]),
        webhook_url=row["webhook_url"],
        secret=row["secret"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        start_seq=row["start_seq"],
        seen_match=row["seen_match"],
        estimated_per_day=row["estimated_per_day"],
        too_broad=bool(row["too_broad"]),
        hits=row["hits"] if "hits" in keys else 0,
        unseen=row["unseen"] if "unseen" in keys else 0,
        last_hit_at=row["last_hit_at"] if "last_hit_at" in keys else None,
    )


ALERT_COLUMNS = """
    a.*,
    (SELECT COUNT(*) FROM matches m WHERE m.alert_id = a.id) AS hits,
    (SELECT COUNT(*) FROM matches m WHERE m.alert_id = a.id AND m.id > a.seen_match) AS unseen,
    (SELECT MAX(matched_at) FROM matches m WHERE m.alert_id = a.id) AS last_hit_at
"""


class AlertStore:
    """Saved searches and what they matched, over one database file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- saved searches -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        search: dict[str, Any],
        webhook_url: str | None,
        estimated_per_day: float,
        too_broad: bool,
        index_max: Callable[[], int] | None = None,
    ) -> Alert:
        """Store a saved search; it alerts on passages committed from now on.

        `index_max` gives the highest passage number in the index, for a database that has
        not numbered any passage yet (it was created after the index).
        """
        stamp = now_iso()
        with transaction(self.conn) as conn:
            # Passages already indexed are not news: the alert starts after the last one numbered.
            start = counter(conn, NEXT_SEQ)
            if start is None:
                start = index_max() if index_max is not None else 0
            # Numbers reserved by builders but not committed yet are news when they land.
            start = min(start, open_floor(conn) - 1)
            cur = conn.execute(
                "INSERT INTO alerts (name, search, webhook_url, secret, created_at, updated_at,"
                " start_seq, estimated_per_day, too_broad) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    json.dumps(search, sort_keys=True),
                    webhook_url,
                    secrets.token_hex(SECRET_BYTES),
                    stamp,
                    stamp,
                    start,
                    estimated_per_day,
                    int(too_broad),
                ),
            )
            alert_id = int(cur.lastrowid or 0)
        return self.get(alert_id)

    def get(self, alert_id: int) -> Alert:
        """One saved search with its hit counts; AlertNotFound when there is none."""
        row = self.conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return _alert(row)

    def all(self) -> list[Alert]:
        """Every saved search, oldest first, with hit counts."""
        rows = self.conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts a ORDER BY a.id")
        return [_alert(r) for r in rows]

    def update(self, alert_id: int, changes: dict[str, Any]) -> Alert:
        """Change a saved search's name, search, webhook or seen marker (`seen: true`)."""
        with transaction(self.conn) as conn:
            if conn.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                raise AlertNotFound(f"no alert {alert_id}")
            sets: dict[str, Any] = {"updated_at": now_iso()}
            for key in ("name", "webhook_url", "estimated_per_day"):
                if key in changes:
                    sets[key] = changes[key]
            if "too_broad" in changes:
                sets["too_broad"] = int(changes["too_broad"])
            if "search" in changes:
                sets["search"] = json.dumps(changes["search"], sort_keys=True)
            if changes.get("seen"):
                latest = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) AS m FROM matches WHERE alert_id = ?",
                    (alert_id,),
                ).fetchone()
                sets["seen_match"] = latest["m"]
            assignments = ", ".join(f"{key} = ?" for key in sets)
            conn.execute(
                f"UPDATE alerts SET {assignments} WHERE id = ?", (*sets.values(), alert_id)
            )
        return self.get(alert_id)

    def delete(self, alert_id: int) -> None:
        """Delete a saved search with its matches and deliveries."""
        with transaction(self.conn) as conn:
            cur = conn.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))
            if cur.rowcount == 0:
                raise AlertNotFound(f"no alert {alert_id}")

    # -- matches --------------------------------------------------------------------------------

    def matches(
        self, alert_id: int, since: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The alert's recorded matches, newest first: {id, passage_id, doc_id, seq,
        matched_at, hit}; `since` (ISO time) keeps those recorded after it."""
        self.get(alert_id)
        sql = "SELECT * FROM matches WHERE alert_id = ?"
        args: list[Any] = [alert_id]
        if since:
            sql += " AND matched_at > ?"
            args.append(since)
        sql += " ORDER BY seq DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [
            {
                "id": row["id"],
                "passage_id": row["passage_id"],
                "doc_id": row["doc_id"],
                "seq": row["seq"],
                "matched_at": row["matched_at"],
                "hit": json.loads(row["hit"]),
            }
            for row in self.conn.execute(sql, args)
        ]

    # -- deliveries -----------------------------------------------------------------------------

    def deliveries(self, alert_id: int, limit: int) -> list[dict[str, Any]]:
        """The alert's webhook deliveries, newest first, each with its attempts."""
        self.get(alert_id)
        rows = self.conn.execute(
            "SELECT * FROM deliveries WHERE alert_id = ? ORDER BY id DESC LIMIT ?",
            (alert_id, limit),
        ).fetchall()
        out = []
        for row in rows:
            attempts = self.conn.execute(
                "SELECT at, http_status, error FROM attempts WHERE delivery_id = ? ORDER BY id",
                (row["id"],),
            ).fetchall()
            out.append(
                {
                    "id": row["id"],
                    "url": row["url"],
                    "status": row["status"],
                    "attempts": [dict(a) for a in attempts],
                    "created_at": row["created_at"],
                    "delivered_at": row["delivered_at"],
                    "next_attempt_at": (
                        datetime.fromtimestamp(row["next_attempt"], UTC).strftime(
                            "%Y-%m-%dT%H:%M:%S.%fZ"
                        )
                        if row["status"] == PENDING
                        else None
                    ),
                    "body": json.loads(row["body"]),
                }
            )
        return out

    def claim_due(self, lease: float) -> list[sqlite3.Row]:
        """Pending deliveries whose time has come, leased to this caller for `lease` seconds
        (another process's delivery thread skips them meanwhile)."""
        now = time.time()
        with transaction(self.conn) as conn:
            rows = conn.execute(
                "SELECT d.*, a.secret FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.status = ? AND d.next_attempt <= ? ORDER BY d.next_attempt LIMIT 50",
                (PENDING, now),
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE deliveries SET next_attempt = ? WHERE id = ?", (now + lease, row["id"])
                )
        return rows

    def record_attempt(
        self,
        delivery_id: int,
        http_status: int | None,
        error: str | None,
        delivered: bool,
        retry_at: float | None,
    ) -> None:
        """Log one attempt; mark the delivery done, due again at retry_at, or failed for good."""
        stamp = now_iso()
        with transaction(self.conn) as conn:
            conn.execute(
                "INSERT INTO attempts (delivery_id, at, http_status, error) VALUES (?, ?, ?, ?)",
                (delivery_id, stamp, http_status, error),
            )
            if delivered:
                conn.execute(
                    "UPDATE deliveries SET status = ?, attempts = attempts + 1, delivered_at = ?"
                    " WHERE id = ?",
                    (DELIVERED, stamp, delivery_id),
                )
            elif retry_at is None:
                conn.execute(
                    "UPDATE deliveries SET status = ?, attempts = attempts + 1 WHERE id = ?",
                    (FAILED, delivery_id),
                )
            else:
                conn.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, next_attempt = ? WHERE id = ?",
                    (retry_at, delivery_id),
                )

    def pending_deliveries(self) -> int:
        """How many deliveries still wait for a successful attempt."""
        row = self.conn.execute(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = ?", (PENDING,)
        ).fetchone()
        return int(row["n"])
