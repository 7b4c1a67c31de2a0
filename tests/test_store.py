"""The index record's owner: schema versions, rebuilds that never serve an empty index, 503s."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from whoosh import index as whoosh_index
from whoosh.fields import TEXT

import index.sync as sync
import search.store as store
from index.sync import IndexSyncer
from search.results import SearchRequest
from search.searching import SearchEngine
from tests.serving import Server, copy_seeds


def test_fingerprint_notices_a_changed_field_type_or_analyzer() -> None:
    schema = store.build_schema()
    same = store.build_schema()
    assert store.schema_fingerprint(schema) == store.schema_fingerprint(same)
    schema.remove("title")
    schema.add("title", TEXT(stored=True))  # Whoosh's default analyzer instead of ours
    assert store.schema_fingerprint(schema) != store.schema_fingerprint(same)


def test_a_new_version_rebuilds_while_the_old_index_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = copy_seeds(tmp_path / "docs")
    index_dir = tmp_path / "index"
    IndexSyncer(docs, index_dir, workers=0).sync_all()
    old = store.read_marker(index_dir)
    assert old is not None and old.version == store.SCHEMA_VERSION
    engine = SearchEngine(index_dir)
    assert engine.stats().documents == 5

    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    # One commit per document, so a reader could see a half-filled index if it were served.
    monkeypatch.setattr(sync, "BATCH_DOCUMENTS", 1)
    seen: list[tuple[int, int]] = []

    def during_rebuild(done: int, total: int) -> None:
        result = engine.search(SearchRequest(q="migration"))
        seen.append((engine.stats().documents, result.total))

    syncer = IndexSyncer(docs, index_dir, workers=0)
    assert syncer.writable.rebuilding
    assert "schema version" in (syncer.writable.reason or "")
    report = syncer.sync_all(progress=during_rebuild)

    assert len(seen) == 5, "every document was parsed again into the new index"
    before = engine.search(SearchRequest(q="migration")).total
    assert all(documents == 5 for documents, _ in seen), seen
    assert {total for _, total in seen} == {before}, "the old index served throughout"
    assert report.added == 5 and report.documents == 5
    new = store.read_marker(index_dir)
    assert new is not None and new.version == old.version + 1 and new.name != old.name
    assert not any(
        p.name.startswith((f"{old.name}_", f"_{old.name}_")) for p in index_dir.iterdir()
    )
    assert engine.stats().documents == 5 and engine.search(SearchRequest(q="migration")).total
    assert IndexSyncer(docs, index_dir, workers=0).sync_all().unchanged == 5


def test_a_watcher_batch_on_an_old_index_rebuilds_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = copy_seeds(tmp_path / "docs")
    index_dir = tmp_path / "index"
    IndexSyncer(docs, index_dir, workers=0).sync_all()
    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    (docs / "new.txt").write_text("Panama canal\n\nThe canal reopened to traffic on Monday.\n")
    report = IndexSyncer(docs, index_dir, workers=0).sync_paths([docs / "new.txt"])
    assert report.documents == 6 and report.added == 6


def test_an_unversioned_index_is_served_then_replaced(tmp_path: Path) -> None:
    from index.pipeline import parse_document

    docs = copy_seeds(tmp_path / "docs")
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    # What the previous release wrote: an index named "passages" and no marker file.
    legacy = whoosh_index.create_in(
        str(index_dir), store.build_schema(), indexname=store.LEGACY_INDEX_NAME
    )
    writer = legacy.writer()
    seed = sorted(docs.iterdir())[0]
    for fields in store.passage_fields(parse_document(docs, seed)):
        writer.add_document(**fields)
    writer.commit()
    engine = SearchEngine(index_dir)
    assert engine.stats().documents == 1
    assert store.read_marker(index_dir) == store.ActiveIndex(store.LEGACY_INDEX_NAME, 1, "")

    report = IndexSyncer(docs, index_dir, workers=0).sync_all()
    assert report.documents == 5
    assert store.read_marker(index_dir) == store.expected_index()
    assert not list(index_dir.glob("*passages_*"))
    assert engine.stats().documents == 5


def test_content_hash_comes_from_the_index_view(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    IndexSyncer(docs, tmp_path / "index", workers=0).sync_all()
    engine = SearchEngine(tmp_path / "index")
    from index.pipeline import content_hash

    seed = sorted(docs.iterdir())[0]
    digest, passages = engine.content_hash(seed.name)
    assert digest == content_hash(seed) and passages >= 1
    assert engine.content_hash("missing.txt") == (None, 0)


def test_no_index_is_503_in_the_error_shape(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    with Server(docs, tmp_path / "index", workers=1) as server:
        assert server.get("/api/search", params={"q": "huawei"}).status_code == 200
        shutil.rmtree(tmp_path / "index")
        for path in ("/api/search?q=huawei", "/api/facets", "/api/documents"):
            resp = server.get(path)
            assert resp.status_code == 503, path
            body = resp.json()
            assert body["code"] == 503 and body["status"] == "Service Unavailable", body
            assert body["errors"] == {} and "no index" in body["message"]
        assert server.get("/readyz").status_code == 503
        spec = server.get("/api/openapi.json").json()
        assert "503" in spec["paths"]["/api/search"]["get"]["responses"]
