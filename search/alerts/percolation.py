"""After every commit, each saved search runs against that commit's passages only.

Every passage gets a sequence number before it is committed, from ranges reserved in the
database (`Sequencer.reserve`, `SequenceRanges`): the serial writer and the builder processes
(index/building.py), which write segments outside the write lock, never share a number. A range
stays open until its passages commit, and percolation stops below the lowest open one
(`open_floor`), so nothing committed late is skipped; the cursor is the last number
percolated. A
percolation reads the passages numbered above the cursor in the searcher's view, runs every
saved search over them (search/alerts/matching.py), records the hits, queues webhook
deliveries and moves the cursor, all in one SQLite transaction: a crash records nothing, and
the re-run (the next sync, or the next start) records it all, once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.alerts.db import (
    CURSOR,
    NEXT_SEQ,
    PENDING,
    AlertStore,
    counter,
    db_path,
    now_iso,
    open_floor,
    set_counter,
    transaction,
)
from search.alerts.matching import NewPassages, could_match, hits_within
from search.alerts.payload import group_documents, hit_json, stored_hit
from search.errors import SearchError
from search.querying import ParsedQuery
from search.results import SearchRequest
from search.searching import SearchEngine
from search.store import read_marker

log = logging.getLogger(__name__)

# Parsed saved queries kept by a writer (a thousand saved searches take a few hundred KB).
PARSED_CACHE_SIZE = 20_000


def request_for(search: dict[str, Any]) -> SearchRequest:
    """The SearchRequest a saved search stands for (its values were validated when saved)."""
    return SearchRequest(
        q=search.get("q", ""),
        filters={k: list(v) for k, v in search.get("filters", {}).items()},
        doc_id=list(search.get("doc_id", [])),
        date_from=search.get("date_from"),
        date_to=search.get("date_to"),
        match=search.get("match", "auto"),
    )


class Sequencer:
    """Hands out passage sequence numbers that never repeat, even after deletions."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def ensure(self, index_max: Callable[[], int]) -> None:
        """Start the counter from the index when the database has none (a new alerts database
        beside an existing index: carry on from the index), before anything is reserved."""
        with transaction(self.store.conn) as conn:
            if counter(conn, NEXT_SEQ) is None:
                set_counter(conn, NEXT_SEQ, index_max())

    def reserve(self, count: int, owner: int, slice_id: str) -> int:
        """The first of count numbers reserved, in one transaction, for passages not yet
        committed.

        The range stays open (percolation waits below it) until the syncer `owner` commits
        them and releases it, or dies. A crash leaves a gap, never a number given twice.
        """
        with transaction(self.store.conn) as conn:
            first = (counter(conn, NEXT_SEQ) or 0) + 1
            set_counter(conn, NEXT_SEQ, first + count - 1)
            conn.execute(
                "INSERT INTO reserved_seqs (first, last, owner, slice) VALUES (?, ?, ?, ?)",
                (first, first + count - 1, owner, slice_id),
            )
        return first

    def release(self, slice_id: str) -> None:
        """Close a slice's ranges: its segment committed (or was given up)."""
        with transaction(self.store.conn) as conn:
            conn.execute("DELETE FROM reserved_seqs WHERE slice = ?", (slice_id,))

    def release_owner(self, owner: int) -> None:
        """Close every range a syncer reserved (its parallel build ended)."""
        with transaction(self.store.conn) as conn:
            conn.execute("DELETE FROM reserved_seqs WHERE owner = ?", (owner,))


class SequenceRanges:
    """Passage numbers for one segment or batch: ranges reserved `block` numbers at a time
    (at least what is asked), all released together once their passages are committed."""

    def __init__(
        self, sequencer: Sequencer, slice_id: str, block: int = 1, owner: int | None = None
    ) -> None:
        self.sequencer, self.slice_id, self.block = sequencer, slice_id, block
        self.owner = os.getpid() if owner is None else owner
        self.next = self.end = 0

    def take(self, count: int) -> int:
        """The first of count consecutive numbers."""
        if self.next + count > self.end:
            size = max(self.block, count)
            self.next = self.sequencer.reserve(size, self.owner, self.slice_id)
            self.end = self.next + size
        first = self.next
        self.next += count
        return first

    def release(self) -> None:
        """Close the ranges (their passages committed, or given up); numbers left are gaps."""
        self.sequencer.release(self.slice_id)
        self.next = self.end = 0


@dataclass
class PercolationReport:
    """What one percolation did."""

    passages: int = 0
    alerts: int = 0
    candidates: int = 0
    matches: int = 0
    deliveries: int = 0
    seconds: float = 0.0
    matched_alerts: list[int] = field(default_factory=list)


class Percolator:
    """Runs saved searches over newly committed passages and records what they match.

    Kept by the writer between syncs: each saved query is parsed once per index schema.
    """

    def __init__(self, engine: Callable[[], SearchEngine]) -> None:
        self._engine_factory = engine
        self._engine: SearchEngine | None = None
        self._parsed: dict[tuple[str, str], ParsedQuery] = {}
        self._index_name: str | None = None

    @property
    def engine(self) -> SearchEngine:
        """The search engine over the index (created on first use)."""
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def parse(self, q: str, match: str) -> ParsedQuery:
        """The saved query as the engine reads it, remembered while the index schema stays."""
        reader = self.engine.query_reader
        key = (q, match)
        parsed = self._parsed.get(key)
        if parsed is None:
            if len(self._parsed) >= PARSED_CACHE_SIZE:
                self._parsed.clear()
            parsed = self._parsed[key] = reader.parse(q, match)
        return parsed

    def run(self, store: AlertStore, skip: bool = False) -> PercolationReport:
        """Percolate every passage numbered above the cursor; with skip (a rebuild re-reads
        known files), move the cursor past them and alert no one."""
        started = time.perf_counter()
        report = PercolationReport()
        with transaction(store.conn) as conn:
            cursor = counter(conn, CURSOR)
            # Passages numbered from a range still open commit later: stop below it.
            ceiling = open_floor(conn) - 1
            rows = conn.execute("SELECT id, name, search, webhook_url, start_seq FROM alerts")
            alerts = [dict(row) for row in rows]
            report.alerts = len(alerts)
            if skip or not alerts:
                # Nothing to run: every number handed out so far (below any open range) is done.
                issued = min(counter(conn, NEXT_SEQ) or 0, ceiling)
                set_counter(conn, CURSOR, max(cursor or 0, issued))
                return report
            base = max(cursor or 0, min(a["start_seq"] for a in alerts))
            # The index's name carries its schema's fingerprint: parses stay valid while it does.
            active = read_marker(self.engine.index_dir)
            name = active.name if active else None
            if name != self._index_name:
                self._parsed, self._index_name = {}, name
            self._percolate(conn, alerts, base, ceiling, report)
        report.seconds = time.perf_counter() - started
        if report.matches:
            log.info(
                "percolated %d passages against %d alerts: %d matches, %d deliveries in %.3fs",
                report.passages,
                report.alerts,
                report.matches,
                report.deliveries,
                report.seconds,
            )
        return report

    def _percolate(
        self,
        conn: Any,
        alerts: list[dict[str, Any]],
        base: int,
        ceiling: int,
        report: PercolationReport,
    ) -> None:
        engine = self.engine
        stamp = now_iso()
        with engine.reading() as snap:
            fresh = {d: n for d, n in snap.view.sequenced_after(base).items() if n <= ceiling}
            report.passages = len(fresh)
            if not fresh:
                return
            top = max(fresh.values())
            batch = NewPassages(engine, snap, fresh)
            for alert in alerts:
                after = max(base, alert["start_seq"])
                if after >= top:
                    continue
                request = request_for(json.loads(alert["search"]))
                if not batch.may_contain(request.q):
                    continue
                try:
                    parsed = self.parse(request.q, request.match)
                    if not could_match(parsed, batch.words):
                        continue
                    report.candidates += 1
                    hits = hits_within(batch, request, after, parsed)
                except SearchError as exc:
                    # A saved query the index can no longer run (say its wildcards now expand
                    # past the limit) must not stop the others.
                    log.warning("alert %s skipped: %s", alert["id"], exc)
                    continue
                new = []
                for docnum, hit in hits:
                    record = hit.passage
                    stored = stored_hit(hit)
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO matches (alert_id, passage_id, doc_id,"
                        " content_hash, seq, matched_at, hit) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            alert["id"],
                            record.passage_id,
                            record.doc_id,
                            record.content_hash or "",
                            fresh[docnum],
                            stamp,
                            json.dumps(stored),
                        ),
                    )
                    if cur.rowcount:
                        new.append({"doc_id": record.doc_id, "matched_at": stamp, "hit": stored})
                if not new:
                    continue
                report.matches += len(new)
                report.matched_alerts.append(alert["id"])
                if alert["webhook_url"]:
                    body = webhook_body(alert, new, stamp, engine)
                    conn.execute(
                        "INSERT INTO deliveries (alert_id, url, body, status, next_attempt,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (alert["id"], alert["webhook_url"], body, PENDING, time.time(), stamp),
                    )
                    report.deliveries += 1
            set_counter(conn, CURSOR, top)


def webhook_body(
    alert: dict[str, Any], new: list[dict[str, Any]], stamp: str, engine: SearchEngine
) -> str:
    """The JSON a webhook receives: the alert and its new hits grouped by document, in the
    shape of GET /api/alerts/<id>/hits."""
    documents = group_documents(new)
    for doc in documents:
        doc["passages"] = [hit_json(h, engine.facets) for h in doc["passages"]]
    payload = {
        "alert": {"id": alert["id"], "name": alert["name"]},
        "matched_at": stamp,
        "documents": documents,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def open_store(index_dir: str | os.PathLike[str]) -> AlertStore:
    """The alerts database beside an index directory."""
    return AlertStore(db_path(Path(index_dir)))
