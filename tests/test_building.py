"""Parallel segment building gives the index the serial writer gives, field by field; merges bound."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from whoosh.reading import IndexReader

import index.sync as sync
from index.building import SLICES_PER_WORKER, STAGING
from index.merging import MERGE_FACTOR
from index.sync import IndexSyncer
from search.alerts.db import AlertStore, db_path
from search.store import SEQ_FIELD, open_index
from tests.serving import ROOT, copy_seeds

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLES = ROOT.parent / "shared" / "corpora" / "reuters21578" / "articles.jsonl"
# Enough files for builder processes (sync.POOL_THRESHOLD is 64) and two segments.
REUTERS_FILES = 72
COLUMNS = ("doc_id", "file_hash", "file_size", "file_mtime", "embedding")


def write_folder(docs: Path) -> Path:
    """Seeds, real PDF/Word/e-mail fixtures, broken files and Reuters articles as text files."""
    copy_seeds(docs)
    for name in ("briefing.eml", "report.docx", "seed-003.pdf", "two-column.pdf", "scanned.pdf"):
        shutil.copy2(FIXTURES / name, docs / name)
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "empty.md").write_text("", encoding="utf-8")
    wire = docs / "wire"
    wire.mkdir()
    written = 0
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            art = json.loads(line)
            if len(art.get("body") or "") < 300 or not art.get("title"):
                continue
            text = f"{art['title']}\n\n{art.get('dateline') or ''} {art['body']}\n"
            (wire / f"{art['id']}.txt").write_text(text, encoding="utf-8")
            written += 1
            if written == REUTERS_FILES:
                break
    return docs


def snapshot(reader: IndexReader) -> dict[str, Any]:
    """Everything the index says about each live passage, keyed by passage_id, docnums aside.

    Sequence numbers (saved searches' order of commits) are left out: builders number from
    ranges they reserve, so the numbers differ while their properties hold (sequence_numbers).
    """
    ids = {n: reader.stored_fields(n)["passage_id"] for n in reader.all_doc_ids()}
    stored = {
        ids[n]: {k: v for k, v in reader.stored_fields(n).items() if k != SEQ_FIELD} for n in ids
    }
    columns = {
        name: {ids[n]: reader.column_reader(name)[n] for n in ids}
        for name in COLUMNS
        if reader.has_column(name)
    }
    postings: dict[str, dict[bytes, dict[str, bytes]]] = {}
    for fieldname in reader.indexed_field_names():
        if fieldname == SEQ_FIELD:
            continue
        terms: dict[bytes, dict[str, bytes]] = {}
        for term in reader.lexicon(fieldname):
            matcher = reader.postings(fieldname, term)
            # Postings of deleted passages stay until a merge: only live ones say what is indexed.
            live = {ids[n]: value for n, value in matcher.all_items() if n in ids}
            if live:
                terms[term] = live
        postings[fieldname] = terms
    # Whoosh's segment reader answers None for a zero length, its multi-segment reader 0.
    lengths = {
        name: {ids[n]: reader.doc_field_length(n, name) or 0 for n in ids}
        for name, field in reader.schema.items()
        if field.scorable
    }
    return {"stored": stored, "columns": columns, "postings": postings, "lengths": lengths}


def index_snapshot(index_dir: Path) -> dict[str, Any]:
    """The snapshot of the index served from index_dir."""
    with open_index(index_dir).reader() as reader:
        return snapshot(reader)


def sequence_numbers(index_dir: Path) -> dict[str, int]:
    """Every live passage's sequence number, by passage_id."""
    with open_index(index_dir).reader() as reader:
        return {
            fields["passage_id"]: fields[SEQ_FIELD]
            for fields in (reader.stored_fields(n) for n in reader.all_doc_ids())
        }


def open_ranges(index_dir: Path) -> list[tuple[int, int]]:
    """Sequence ranges reserved and not released (after a sync: none)."""
    store = AlertStore(db_path(index_dir))
    try:
        rows = store.conn.execute("SELECT first, last FROM reserved_seqs").fetchall()
        return [(r["first"], r["last"]) for r in rows]
    finally:
        store.close()


def segment_sizes(index_dir: Path) -> list[int]:
    """Passages (deleted ones included) of each segment of the served index."""
    return sorted(s.doc_count_all() for s in open_index(index_dir)._segments())


def summary(report: sync.SyncReport) -> dict[str, Any]:
    """The report as JSON, timing left out and skips in a stable order."""
    data = report.to_json()
    data.pop("seconds")
    data["skipped"] = sorted(data["skipped"], key=lambda s: s["path"])  # type: ignore[arg-type]
    return data


def test_parallel_builders_write_the_serial_index_field_by_field(tmp_path: Path) -> None:
    docs = write_folder(tmp_path / "docs")
    serial = IndexSyncer(docs, tmp_path / "serial", workers=0).sync_all()
    parallel = IndexSyncer(docs, tmp_path / "parallel", workers=2).sync_all()

    assert summary(parallel) == summary(serial)
    assert (
        serial.added == REUTERS_FILES + 5 + 4 + 2
    )  # wire, seeds, fixtures, the e-mail's attachments
    assert {s["path"]: s["reason"] for s in parallel.skipped} == {
        "binary.txt": "binary or undecodable content",
        "empty.md": "empty document",
        "scanned.pdf": "no text layer (scanned?)",
    }
    assert index_snapshot(tmp_path / "parallel") == index_snapshot(tmp_path / "serial")
    # Two builders, two slices each: four segments, adopted whole (no merge), staging left empty.
    assert len(segment_sizes(tmp_path / "parallel")) == 2 * SLICES_PER_WORKER
    assert sum(segment_sizes(tmp_path / "parallel")) == parallel.passages
    assert list((tmp_path / "parallel" / STAGING).iterdir()) == []
    # Every passage numbered once, from ranges all released when the sync ended.
    numbers = list(sequence_numbers(tmp_path / "parallel").values())
    assert len(set(numbers)) == len(numbers) == parallel.passages
    assert min(numbers) >= 1
    assert open_ranges(tmp_path / "parallel") == []


def test_parallel_sync_replaces_changed_files_and_drops_broken_and_removed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_folder(tmp_path / "docs")
    IndexSyncer(docs, tmp_path / "parallel", workers=2).sync_all()
    before = sequence_numbers(tmp_path / "parallel")
    wire = sorted((docs / "wire").iterdir())
    for path in wire[:3]:
        path.write_text(path.read_text(encoding="utf-8") + "\nCoffee exports to Brazil rose.\n")
    for path in wire[3:5]:
        path.unlink()
    wire[5].write_bytes(b"\x00\x01\x02" * 500)  # indexed before, now unreadable: its passages go
    (docs / "wire" / "new.txt").write_text("New note\n\nOil prices in Norway fell.\n")
    # A handful of changed files: let the builders take them anyway.
    monkeypatch.setattr(sync, "POOL_THRESHOLD", 2)

    report = IndexSyncer(docs, tmp_path / "parallel", workers=2).sync_all()

    assert (report.added, report.updated, report.removed) == (1, 3, 3)
    assert {"path": f"wire/{wire[5].name}", "reason": "binary or undecodable content"} in (
        report.skipped
    )
    fresh = IndexSyncer(docs, tmp_path / "fresh", workers=0).sync_all()
    assert (report.documents, report.passages) == (fresh.documents, fresh.passages)
    assert index_snapshot(tmp_path / "parallel") == index_snapshot(tmp_path / "fresh")
    # The second sync's passages are numbered above every number the first one gave.
    after = sequence_numbers(tmp_path / "parallel")
    assert len(set(after.values())) == len(after)
    renumbered = {p for p in after if before.get(p) != after[p]}
    assert {p.split("#")[0] for p in renumbered} == {
        *(f"wire/{path.name}" for path in wire[:3]),
        "wire/new.txt",
    }
    assert min(after[p] for p in renumbered) > max(before.values())
    assert open_ranges(tmp_path / "parallel") == []


def test_small_commits_merge_a_full_tier_into_one_segment(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    syncer = IndexSyncer(docs, tmp_path / "index", workers=0)
    for n in range(MERGE_FACTOR + 1):
        path = docs / f"note{n}.txt"
        path.write_text(f"Note {n}\n\nCustoms officers in Panama seized cocaine, report {n}.\n")
        syncer.sync_paths([path])
        if n < MERGE_FACTOR:
            # One segment per commit until the tier is full.
            assert segment_sizes(tmp_path / "index") == [1] * (n + 1)
    # The eleventh commit merged the ten one-passage segments into the one it wrote.
    assert segment_sizes(tmp_path / "index") == [MERGE_FACTOR + 1]


def _embeddings(index_dir: Path) -> dict[str, bytes]:
    """Every live passage's stored embedding bytes, by passage_id."""
    with open_index(index_dir).reader() as reader:
        column = reader.column_reader("embedding")
        return {reader.stored_fields(n)["passage_id"]: column[n] for n in reader.all_doc_ids()}


def test_builders_embed_passages_as_the_serial_sync_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.embedding import DIMENSIONS, from_bytes

    docs = copy_seeds(tmp_path / "docs")
    serial = IndexSyncer(docs, tmp_path / "serial", workers=0, semantic=True).sync_all()
    # Five seed files: let two builders (one-thread encoders each) take them anyway.
    monkeypatch.setattr(sync, "POOL_THRESHOLD", 2)
    parallel = IndexSyncer(docs, tmp_path / "parallel", workers=2, semantic=True).sync_all()
    # Five files in slices of two: three segments, each written by a builder.
    assert len(segment_sizes(tmp_path / "parallel")) == 3
    expected, got = _embeddings(tmp_path / "serial"), _embeddings(tmp_path / "parallel")
    assert sorted(got) == sorted(expected) and len(got) == serial.passages == parallel.passages
    ids = sorted(expected)
    a, present_a = from_bytes([expected[i] for i in ids])
    b, present_b = from_bytes([got[i] for i in ids])
    assert present_a.all() and present_b.all() and a.shape == (len(ids), DIMENSIONS)
    # One thread or two sum in another order: float16 vectors equal up to rounding.
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9999


def test_slices_are_consecutive_and_bounded_by_count_and_bytes() -> None:
    from index.building import SEGMENT_MAX_BYTES, plan_slices

    jobs = [(Path("docs"), Path(f"f{n}.txt"), 0, None) for n in range(10)]
    # Two builders, two slices each: ten files cut in slices of three, in file order.
    slices = plan_slices(jobs, [1] * 10, workers=2)
    assert [[j[1].name for j in s] for s in slices] == [
        ["f0.txt", "f1.txt", "f2.txt"],
        ["f3.txt", "f4.txt", "f5.txt"],
        ["f6.txt", "f7.txt", "f8.txt"],
        ["f9.txt"],
    ]
    # Big files close a slice early: no slice holds more bytes than a segment may take,
    # unless one file alone is that big.
    sizes = [SEGMENT_MAX_BYTES // 2 + 1] * 4 + [SEGMENT_MAX_BYTES * 2] + [1] * 5
    slices = plan_slices(jobs, sizes, workers=1)
    assert [len(s) for s in slices] == [1, 1, 1, 1, 1, 5]
    assert plan_slices([], [], workers=2) == []


def test_builders_fork_with_the_syncers_objects_frozen_and_the_syncer_thaws(
    tmp_path: Path,
) -> None:
    import gc

    from index.building import BuilderPool, pack_slice
    from search.store import open_for_writing

    index_dir = tmp_path / "index"
    writable = open_for_writing(index_dir)
    schema = writable.index.schema
    pool = BuilderPool(2, index_dir, writable.target.name, schema, None, semantic=False)
    try:
        assert gc.get_freeze_count() == 0
        staged = pool._submit(pack_slice([])).result()
        assert staged.segment is None
        # Each builder's collector never visits what it inherited (so never copies its
        # pages); the syncer's own collector goes on collecting its objects.
        frozen = [pool._pool.submit(gc.get_freeze_count).result() for _ in range(4)]
        assert min(frozen) > 10_000
        assert gc.get_freeze_count() == 0
    finally:
        pool.close()


def test_a_packed_slice_unpacks_to_its_jobs_in_order() -> None:
    from index.building import pack_slice, unpack_slice

    docs = Path("/srv/docs")
    jobs = [(docs, docs / "a" / "one.txt", 1000, None), (docs, docs / "two.pdf", 1000, "ab12")]
    assert unpack_slice(pack_slice(jobs)) == jobs
    assert unpack_slice(pack_slice([])) == []
    # One folder and one size limit a slice: a mixed slice is refused, not packed wrongly.
    with pytest.raises(ValueError):
        pack_slice([*jobs, (Path("/elsewhere"), Path("/elsewhere/x.txt"), 1000, None)])
