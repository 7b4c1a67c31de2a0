"""Percolation on a real Whoosh index in a temp folder: numbering, idempotence, pre-checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.sync import IndexSyncer
from search.alerts.db import CURSOR, AlertStore, counter, db_path, set_counter, transaction
from search.alerts.matching import NewPassages, hits_within
from search.alerts.percolation import Percolator, Sequencer, request_for
from search.searching import SearchEngine
from tests.serving import copy_seeds

NEW = {
    "lab.txt": "Huawei lab in Costa Rica\n\nSAN JOSE, Costa Rica - Huawei opened a 5G research "
    "lab on Tuesday, officials said, while Panama weighed its own cyber security rules.\n",
    "ports.txt": "Port security review\n\nPANAMA CITY - Officials reviewed port security and "
    "migration controls after cocaine seizures rose, the ministry said on Monday.\n",
}
SEARCHES = [
    {"q": "huawei"},
    {"q": "huawei", "filters": {"country": ["PA"]}},
    {"q": '"research lab"'},
    {"q": "migra*"},
    {"q": "security -huawei"},
    {"q": "cocaine OR zqnothing"},
    {"q": "title:port"},
    {"q": "zqnothing"},
    {"q": ""},
    {"q": "", "filters": {"country": ["PA"]}},
    {"q": "what did officials say about port security"},
]


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[IndexSyncer, AlertStore, Path]:
    """The seeds indexed, every saved search created, then two new files committed."""
    docs = copy_seeds(tmp_path / "docs")
    syncer = IndexSyncer(docs, tmp_path / "index", workers=0)
    syncer.sync_all()
    store = AlertStore(db_path(tmp_path / "index"))
    for n, search in enumerate(SEARCHES):
        store.create(f"s{n}", {"filters": {}, **search}, None, 0.0, False)
    for name, text in NEW.items():
        (docs / name).write_text(text, encoding="utf-8")
    syncer.sync_paths([docs / name for name in NEW])
    return syncer, store, docs


def _recorded(store: AlertStore) -> dict[str, list[str]]:
    return {a.name: sorted(m["passage_id"] for m in store.matches(a.id)) for a in store.all()}


def test_pre_checks_skip_only_searches_that_cannot_match(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, _ = indexed
    engine = SearchEngine(syncer.index_dir)
    first = min(a.start_seq for a in store.all())
    expected = {}
    with engine.reading() as snap:
        batch = NewPassages(engine, snap, snap.view.sequenced_after(first))
        for n, search in enumerate(SEARCHES):
            request = request_for({"filters": {}, **search})
            parsed = engine.query_reader.parse(request.q, request.match)
            found = hits_within(batch, request, first, parsed)
            expected[f"s{n}"] = sorted(hit.passage_id for _, hit in found)
    assert _recorded(store) == expected
    assert expected == {
        "s0": ["lab.txt#0"],
        "s1": ["lab.txt#0"],
        "s2": ["lab.txt#0"],
        "s3": ["ports.txt#0"],
        "s4": ["ports.txt#0"],
        "s5": ["ports.txt#0"],
        "s6": ["ports.txt#0"],
        "s7": [],
        "s8": ["lab.txt#0", "ports.txt#0"],
        "s9": ["lab.txt#0", "ports.txt#0"],
        "s10": ["ports.txt#0"],
    }


def test_recorded_hits_score_and_highlight_as_search_does(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, _ = indexed
    engine = SearchEngine(syncer.index_dir)
    compared = 0
    for alert in store.all():
        for match in store.matches(alert.id):
            request = request_for(alert.search)
            request.doc_id = [match["doc_id"]]
            request.autocorrect = False
            found = {h.passage_id: h for h in engine.search(request).hits}
            hit = found[match["passage_id"]]
            stored = match["hit"]
            assert (stored["score"], stored["highlight"], stored["matches"]) == (
                hit.score,
                hit.highlight,
                hit.matches,
            )
            compared += 1
    assert compared == 12


def test_a_rerun_of_the_same_passages_records_nothing_twice(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, _ = indexed
    before = _recorded(store)
    cursor = counter(store.conn, CURSOR)
    start = min(a.start_seq for a in store.all())
    # As if the cursor's move had been lost: the same passages percolate again.
    with transaction(store.conn) as conn:
        set_counter(conn, CURSOR, start)
    report = Percolator(syncer._search_engine).run(store)
    assert (report.passages, report.matches) == (2, 0)
    assert _recorded(store) == before
    assert counter(store.conn, CURSOR) == cursor


def test_numbers_are_never_reused_and_unchanged_files_alert_no_one(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, docs = indexed
    engine = SearchEngine(syncer.index_dir)
    with engine.reading() as snap:
        highest = snap.view.max_sequence()
    # The newest document goes, then a new one comes: it is numbered past the deleted one.
    (docs / "ports.txt").unlink()
    syncer.sync_paths([docs / "ports.txt"])
    (docs / "again.txt").write_text(NEW["ports.txt"], encoding="utf-8")
    syncer.sync_paths([docs / "again.txt"])
    with engine.reading() as snap:
        assert min(snap.view.sequenced_after(highest).values()) == highest + 1
    recorded = _recorded(store)
    assert recorded["s3"] == ["again.txt#0", "ports.txt#0"]
    # The same bytes dropped again: unchanged, not reindexed, nobody alerted.
    (docs / "again.txt").write_text(NEW["ports.txt"], encoding="utf-8")
    report = syncer.sync_paths([docs / "again.txt"])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert _recorded(store) == recorded


def test_passages_numbered_after_an_open_range_wait_for_it(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, docs = indexed
    sequencer = Sequencer(store)
    # A builder's range (numbers given, its segment not committed yet), then a serial commit
    # numbered above it: percolating that commit would move the cursor past the range.
    reserved = sequencer.reserve(10, os.getpid(), "slice-a")
    (docs / "late.txt").write_text(NEW["ports.txt"], encoding="utf-8")
    syncer.sync_paths([docs / "late.txt"])
    assert "late.txt#0" not in _recorded(store)["s3"]
    assert counter(store.conn, CURSOR) == reserved - 1
    # A saved search made now starts below the range: its passages are news when they land.
    assert store.create("later", {"filters": {}, "q": "cocaine"}, None, 0.0, False).start_seq == (
        reserved - 1
    )
    # The range closes (its segment committed): the next percolation takes the waiting passage.
    sequencer.release("slice-a")
    report = Percolator(syncer._search_engine).run(store)
    assert report.passages == 1
    assert _recorded(store)["s3"] == ["late.txt#0", "ports.txt#0"]
    assert _recorded(store)["later"] == ["late.txt#0"]


def test_a_range_whose_syncer_died_is_dropped(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, docs = indexed
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    Sequencer(store).reserve(10, int(child.stdout), "slice-dead")
    (docs / "late.txt").write_text(NEW["ports.txt"], encoding="utf-8")
    syncer.sync_paths([docs / "late.txt"])
    assert _recorded(store)["s3"] == ["late.txt#0", "ports.txt#0"]
    assert store.conn.execute("SELECT COUNT(*) FROM reserved_seqs").fetchone()[0] == 0


def test_a_builder_reserving_during_a_serial_batch_gets_other_numbers(indexed) -> None:  # type: ignore[no-untyped-def]
    syncer, store, docs = indexed
    for name in ("one.txt", "two.txt"):
        (docs / name).write_text(NEW["ports.txt"].replace("Port", name), encoding="utf-8")
    builder = AlertStore(db_path(syncer.index_dir))  # another process's connection
    reserved: list[int] = []

    def meanwhile(done: int, total: int) -> None:
        # The first new file is numbered and its batch not committed: a builder reserves now.
        if done == 2:
            reserved.append(Sequencer(builder).reserve(5, os.getpid(), "builder"))
            Sequencer(builder).release("builder")

    report = syncer.sync_all(progress=meanwhile)
    builder.close()
    assert report.added == 2 and len(reserved) == 1
    engine = SearchEngine(syncer.index_dir)
    with engine.reading() as snap:
        numbers = list(snap.view.sequenced_after(0).values())
    assert len(numbers) == len(set(numbers)), "no number given twice"
    assert not set(numbers) & set(range(reserved[0], reserved[0] + 5))
