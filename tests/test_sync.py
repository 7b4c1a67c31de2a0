"""`briefing index` / `briefing docs`: syncing a real Whoosh index with a real folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from index.sync import IndexSyncer, is_ignored, scan_folder
from search.store import open_index
from tests.serving import BRIEFING, copy_seeds

SEED_IDS = [
    "000_d033478f65d302a4.txt",
    "001_c8cf70a4a0fe17d4.txt",
    "002_cb201ffc96d0d6cf.txt",
    "003_ea86780b6957a22a.txt",
    "004_ae834e1aff1effad.txt",
]
REPORT_KEYS = {
    "documents", "passages", "added", "updated", "removed", "unchanged", "skipped", "formats",
    "seconds",
}  # fmt: skip


def run_index(docs: Path, index_dir: Path) -> dict:
    out = subprocess.run(
        [BRIEFING, "index", str(docs), "--index-dir", str(index_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def run_docs(index_dir: Path) -> list[dict]:
    out = subprocess.run(
        [BRIEFING, "docs", "--index-dir", str(index_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_sync_adds_then_does_nothing_then_tracks_changes(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    index_dir = tmp_path / "index"
    first = run_index(docs, index_dir)
    assert set(first) == REPORT_KEYS
    assert (first["added"], first["updated"], first["removed"], first["unchanged"]) == (5, 0, 0, 0)
    assert first["documents"] == 5 and first["passages"] >= 15 and first["skipped"] == []

    second = run_index(docs, index_dir)
    assert (second["added"], second["updated"], second["removed"]) == (0, 0, 0)
    assert second["unchanged"] == 5 and second["passages"] == first["passages"]

    # Touched but identical: the content hash says unchanged.
    os.utime(docs / SEED_IDS[0], (1, 1))
    assert run_index(docs, index_dir)["unchanged"] == 5

    changed = docs / SEED_IDS[1]
    changed.write_text(changed.read_text() + "\nA new closing paragraph about Guatemala.\n")
    (docs / SEED_IDS[4]).unlink()
    third = run_index(docs, index_dir)
    assert (third["added"], third["updated"], third["removed"], third["unchanged"]) == (0, 1, 1, 3)
    assert third["documents"] == 4
    listed = {d["doc_id"] for d in run_docs(index_dir)}
    assert listed == set(SEED_IDS[:4])


def test_broken_files_are_skipped_with_reasons_and_never_abort(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    (docs / "empty.txt").write_text("")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00" * 10)
    (docs / "report.pdf").write_bytes(b"%PDF-1.4 not supported")
    (docs / ".hidden.txt").write_text("hidden files are ignored")
    (docs / "partial.txt.part").write_text("partial downloads are ignored")
    report = run_index(docs, tmp_path / "index")
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"empty.txt", "binary.txt", "report.pdf"}
    assert all(reasons.values())
    assert report["added"] == 5 and report["documents"] == 5


def test_the_folder_scan_lists_files_in_order_and_skips_hidden_links_and_partials(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    for name in ["b.txt", "a.txt", "sub/z.md", "sub/deeper/c.txt", "sub/.hidden/x.txt"]:
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(name)
    (docs / "~$lock.docx").write_text("an editor's lock file")
    (docs / "notes.txt.tmp").write_text("a temporary file")
    (docs / ".git").mkdir()
    (docs / ".git" / "config").write_text("[core]")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "y.txt").write_text("outside the folder")
    (docs / "linked-folder").symlink_to(outside, target_is_directory=True)
    (docs / "linked-file.txt").symlink_to(docs / "a.txt")
    (docs / "broken-link.txt").symlink_to(tmp_path / "missing.txt")
    found = scan_folder(docs)
    # A folder's files in name order, then its subfolders' (os.walk's top-down order, sorted).
    assert list(found) == ["a.txt", "b.txt", "linked-file.txt", "sub/z.md", "sub/deeper/c.txt"]
    assert found["sub/deeper/c.txt"] == docs / "sub" / "deeper" / "c.txt"
    assert all(isinstance(path, Path) for path in found.values())
    assert scan_folder(tmp_path / "no-such-folder") == {}


def test_docs_lists_metadata_and_tags(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    run_index(docs, tmp_path / "index")
    listing = {d["doc_id"]: d for d in run_docs(tmp_path / "index")}
    assert set(listing) == set(SEED_IDS)
    keys = {"doc_id", "title", "date", "source", "byline", "passages", "countries", "topics"}
    keys |= {"subject_countries", "regions"}
    assert all(set(d) == keys for d in listing.values())
    seed3 = listing["003_ea86780b6957a22a.txt"]
    assert seed3["title"] == (
        "US Secretary of State Marco Rubio Strengthens Security Ties During Tour in Mexico and Ecuador"
    )
    assert seed3["date"] == "2025-11-02"
    assert seed3["source"] == "Atlantic Council"
    assert listing["002_cb201ffc96d0d6cf.txt"]["source"] == "Taiwan News"
    expected = {
        "000_d033478f65d302a4.txt": ({"US", "CR", "NI", "VE", "CU"}, {"cybersecurity", "organized-crime", "migration"}),
        "001_c8cf70a4a0fe17d4.txt": ({"US", "CR", "GT", "SV", "CN"}, {"migration", "china-influence"}),
        "002_cb201ffc96d0d6cf.txt": ({"CR", "TW", "CN", "PA", "US"}, {"cybersecurity", "china-influence"}),
        "003_ea86780b6957a22a.txt": ({"US", "MX", "EC", "VE", "CO"}, {"organized-crime", "migration", "trade"}),
        "004_ae834e1aff1effad.txt": ({"US", "PA", "SV", "CR", "GT", "DO", "HT", "CN"}, {"china-influence", "migration", "security"}),
    }  # fmt: skip
    for doc_id, (countries, topics) in expected.items():
        assert set(listing[doc_id]["countries"]) >= countries, doc_id
        assert set(listing[doc_id]["topics"]) >= topics, doc_id
        assert "DM" not in listing[doc_id]["countries"]


def test_passage_ids_are_stable_and_offsets_round_trip(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    syncer = IndexSyncer(docs, tmp_path / "index", workers=1)
    syncer.sync_all()
    ix = open_index(tmp_path / "index")
    with ix.searcher() as searcher:
        stored = [searcher.stored_fields(n) for n in searcher.reader().all_doc_ids()]
    by_doc: dict[str, list[dict]] = {}
    for record in stored:
        by_doc.setdefault(record["doc_id"], []).append(record)
    for doc_id, passages in by_doc.items():
        passages.sort(key=lambda r: r["ordinal"])
        text = (docs / doc_id).read_text()
        assert [p["passage_id"] for p in passages] == [
            f"{doc_id}#{i}" for i in range(len(passages))
        ]
        for p in passages:
            assert text[p["start"] : p["end"]] == p["text"]
        assert "0 Comments" not in " ".join(p["text"] for p in passages)


def test_subfolders_use_posix_relative_doc_ids(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "cables" / "2025").mkdir(parents=True)
    (docs / "cables" / "2025" / "note.md").write_text(
        "# Cable on Ecuador\n\nThe embassy in Quito reports on naval cooperation with Ecuador and "
        "the arrival of new patrol boats to counter drug trafficking along the coast.\n"
    )
    report = IndexSyncer(docs, tmp_path / "index", workers=1).sync_all()
    assert report.added == 1
    assert report.changed_doc_ids == ["cables/2025/note.md"]


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        (".draft.txt", True),
        ("x.tmp", True),
        ("x.part", True),
        ("~$report.txt", True),
        (".git/config", True),
        ("notes.txt", False),
        ("a/b.md", False),
    ],
)
def test_ignored_names(name: str, ignored: bool) -> None:
    assert is_ignored(Path(name)) is ignored


def test_interrupted_batch_leaves_last_commit_readable(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    syncer = IndexSyncer(docs, tmp_path / "index", workers=1)
    syncer.sync_all()
    for i in range(3):
        (docs / f"new{i}.txt").write_text(f"Extra note {i} about migration through Panama.\n")

    calls = {"n": 0}

    def interrupt(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        syncer.sync_all(progress=interrupt)
    ix = open_index(tmp_path / "index")
    with ix.searcher() as searcher:
        assert sum(1 for _ in searcher.document_numbers(ordinal=0)) == 5
    report = IndexSyncer(docs, tmp_path / "index", workers=1).sync_all()
    assert report.added == 3 and report.documents == 8
