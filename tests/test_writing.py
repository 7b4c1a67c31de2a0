"""index/writing.py writes the segments Whoosh's own writer writes, posting for posting."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from whoosh import index as whoosh_index
from whoosh.writing import SegmentWriter

import index.sync as sync
import index.writing as writing
from index.pipeline import parse_document
from index.sync import IndexSyncer
from index.writing import FastSegmentWriter, StemCache, chain_settings, positions_items
from search.facet_registry import default_registry
from search.store import build_schema, passage_fields
from tests.test_building import ARTICLES, index_snapshot, sequence_numbers, write_folder

EDGE_CASES = [
    "",
    "the of and",  # stop words only
    "The US and the E.U. met in São Paulo; a 3.141 b_c x",  # dotted words, one-letter words
    "A a a a aaa: ÉLYSÉE élysée İstanbul straße ΣΊΣΥΦΟΣ",  # case and non-ASCII
    "it's 2026-11-30, $1.5bn... U.S.-Mexico talks/agreement (draft) re-opened",
    "word " * 300,
]


def _texts() -> list[str]:
    """Edge cases, then titles and bodies of real Reuters articles."""
    texts = list(EDGE_CASES)
    with ARTICLES.open(encoding="utf-8") as handle:
        for line, _ in zip(handle, range(300), strict=False):
            article = json.loads(line)
            texts += [article.get("title") or "", article.get("body") or ""]
    return texts


def test_positions_items_are_what_whoosh_indexes_for_every_text_field() -> None:
    schema = build_schema(default_registry())
    fields = [name for name, f in schema.items() if chain_settings(getattr(f, "analyzer", None))]
    assert sorted(fields) == ["source_text", "text", "title"]
    compared = 0
    for name in fields:
        field = schema[name]
        chain = chain_settings(field.analyzer)
        assert chain is not None and chain.case_blind
        stems = StemCache(chain)
        for text in _texts():
            fast = positions_items(chain, field.format, text, stems)
            assert sorted(fast) == sorted(field.index(text)), text[:80]
            # Non-ASCII text takes the token-by-token path; lowercased first, ASCII must agree.
            upper = text.upper()
            assert sorted(positions_items(chain, field.format, upper)) == sorted(
                field.index(upper)
            ), upper[:80]
            compared += len(fast)
    assert compared > 50_000


def test_other_analyzers_are_left_to_whoosh() -> None:
    schema = build_schema(default_registry())
    assert chain_settings(schema["countries"].analyzer) is None
    assert chain_settings(schema["doc_id"].analyzer) is None


@pytest.mark.parametrize("workers", [0, 2])
def test_segments_equal_whooshs_own_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    docs = write_folder(tmp_path / "docs")
    ours = IndexSyncer(docs, tmp_path / "ours", workers=workers).sync_all()
    # The same sync through Whoosh's SegmentWriter (serially: the numbers then match too).
    monkeypatch.setattr(sync, "FastSegmentWriter", SegmentWriter)
    plain = IndexSyncer(docs, tmp_path / "plain", workers=0).sync_all()
    assert (ours.passages, ours.documents) == (plain.passages, plain.documents)
    assert index_snapshot(tmp_path / "ours") == index_snapshot(tmp_path / "plain")
    if not workers:
        assert sequence_numbers(tmp_path / "ours") == sequence_numbers(tmp_path / "plain")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def segment_files(index_dir: Path, indexname: str | None = None) -> list[dict[str, str]]:
    """Per segment (in the index's order), the SHA-256 of each file inside it, by file name
    without the segment's random id."""
    if indexname is None:
        toc = next(index_dir.glob("_*_[0-9]*.toc")).name
        indexname = toc[1:].rsplit("_", 1)[0]
    ix = whoosh_index.open_dir(str(index_dir), indexname=indexname)
    found = []
    for segment in ix._segments():
        storage = segment.open_compound_file(ix.storage) if segment.is_compound() else ix.storage
        prefix = segment.make_filename("")
        names = [n for n in storage.list() if n.startswith(prefix) or segment.is_compound()]
        found.append({n.removeprefix(prefix): _digest(storage.open_file(n).read()) for n in names})
    return found


@pytest.fixture
def every_block_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks compressed as Whoosh compresses them (all, by zlib at the codec's level), for
    byte-for-byte comparisons."""
    monkeypatch.setattr(writing, "COMPRESS_MIN_BYTES", 0)
    monkeypatch.setattr(writing, "DEFLATE", None)


@pytest.mark.usefixtures("every_block_compressed")
def test_segment_files_are_whooshs_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_folder(tmp_path / "docs")
    IndexSyncer(docs, tmp_path / "ours", workers=0).sync_all()
    monkeypatch.setattr(sync, "FastSegmentWriter", SegmentWriter)
    IndexSyncer(docs, tmp_path / "plain", workers=0).sync_all()
    ours, plain = segment_files(tmp_path / "ours"), segment_files(tmp_path / "plain")
    assert ours == plain
    # Postings, term dictionary, field lengths, stored fields and columns, all compared.
    names = set(ours[0])
    assert {".pst", ".trm", "._stored.col", "._text_len.col", ".doc_id.col"} <= names


def test_isal_deflates_what_whoosh_inflates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ISA-L writes other bytes for the postings and stored fields than zlib, and every posting,
    length and stored field Whoosh reads back is the same."""
    assert writing.DEFLATE is not None and writing.DEFLATE.level == writing.ISAL_LEVEL
    docs = write_folder(tmp_path / "docs")
    IndexSyncer(docs, tmp_path / "isal", workers=0).sync_all()
    monkeypatch.setattr(writing, "DEFLATE", None)
    IndexSyncer(docs, tmp_path / "zlib", workers=0).sync_all()
    assert index_snapshot(tmp_path / "isal") == index_snapshot(tmp_path / "zlib")
    isal, zlib_files = segment_files(tmp_path / "isal"), segment_files(tmp_path / "zlib")
    assert isal[0][".pst"] != zlib_files[0][".pst"]
    assert isal[0]["._stored.col"] != zlib_files[0]["._stored.col"]
    # Field lengths do not depend on the compressor (the term dictionary holds offsets).
    assert isal[0]["._text_len.col"] == zlib_files[0]["._text_len.col"]


def test_without_python_isal_the_writer_compresses_as_whoosh_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A platform with no python-isal wheel: no deflate of ours, Whoosh's zlib everywhere."""
    monkeypatch.setitem(sys.modules, "isal", None)  # `from isal import ...` raises ImportError
    assert writing.isal_deflate() is None


def _records(count: int) -> Iterator[dict[str, Any]]:
    """Index records of real passages: the seeds, then Reuters articles, count in all."""
    facets = default_registry()
    made = 0
    seeds = sorted(Path("seeds").glob("*.txt"))
    for number, path in enumerate(seeds):
        doc = parse_document(Path("seeds"), path)
        for record in passage_fields(doc, facets, first_seq=1000 * number):
            yield record
            made += 1
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            if made >= count:
                return
            article = json.loads(line)
            yield {
                "passage_id": f"r{made}",
                "doc_id": f"r{made}.txt",
                "title": article.get("title") or "",
                "text": article.get("body") or "",
                "countries": " ".join(article.get("countries") or []),
                "ordinal": made % 7,
                "seq": 10_000 + made,
            }
            made += 1


def _write(
    index_dir: Path, writer_class: Any, batches: list[list[dict[str, Any]]], optimize: bool
) -> list[dict[str, str]]:
    """Commit each batch with writer_class (the last one merging everything when optimize)."""
    index_dir.mkdir()
    ix = whoosh_index.create_in(str(index_dir), build_schema(default_registry()), indexname="t")
    for number, batch in enumerate(batches):
        writer = writer_class(ix)
        for record in batch:
            writer.add_document(**record)
        writer.commit(optimize=optimize and number == len(batches) - 1)
    return segment_files(index_dir, "t")


@pytest.mark.usefixtures("every_block_compressed")
def test_postings_past_the_budget_go_to_whooshs_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = list(_records(400))
    plain = _write(tmp_path / "plain", SegmentWriter, [records], optimize=False)
    # A budget of a few postings: the first document's postings already go to the pool.
    monkeypatch.setattr(writing, "BYTES_PER_POSTING", 10_000_000)
    (tmp_path / "x").mkdir()
    ix = whoosh_index.create_in(str(tmp_path / "x"), build_schema(default_registry()))
    writer = FastSegmentWriter(ix)
    writer.add_document(**records[0])
    assert writer._held is None and writer.pool.current
    writer.cancel()
    assert _write(tmp_path / "ours", FastSegmentWriter, [records], optimize=False) == plain


@pytest.mark.usefixtures("every_block_compressed")
def test_a_merge_commit_writes_whooshs_segment(tmp_path: Path) -> None:
    # Merged segments' postings go through Whoosh's pool; the new documents' go with them.
    records = list(_records(300))
    batches = [records[:100], records[100:180], records[180:]]
    plain = _write(tmp_path / "plain", SegmentWriter, batches, optimize=True)
    ours = _write(tmp_path / "ours", FastSegmentWriter, batches, optimize=True)
    assert len(ours) == 1 and ours == plain


@pytest.mark.usefixtures("every_block_compressed")
def test_boosted_weights_and_long_postings_are_written_as_whoosh_writes_them(
    tmp_path: Path,
) -> None:
    # Boosts make weights that a block rounds to 4-byte floats (its maximum is taken before
    # rounding, its sums after); 400 passages give terms of more than one 128-posting block.
    records = list(_records(400))
    for number, record in enumerate(records):
        if number % 3 == 0:
            record["_boost"] = 1.1
        if number % 5 == 0:
            record["_title_boost"] = 0.7
    plain = _write(tmp_path / "plain", SegmentWriter, [records], optimize=False)
    ours = _write(tmp_path / "ours", FastSegmentWriter, [records], optimize=False)
    assert ours == plain
    ix = whoosh_index.open_dir(str(tmp_path / "ours"), indexname="t")
    with ix.reader() as reader:
        longest = max(reader.doc_frequency("text", word) for word in (b"said", b"the", b"year"))
        assert longest > 128
        matcher = reader.postings("text", b"said")
        weights = set()
        while matcher.is_active():
            weights.add(matcher.weight())
            matcher.next()
        assert any(w != int(w) for w in weights)  # boosted: not whole frequencies


def _read_back(index_dir: Path) -> tuple[dict[tuple[str, bytes], Any], list[int]]:
    """What Whoosh's reader gives of every term (its term info and every posting) and the
    compression level of every postings block, in order."""
    ix = whoosh_index.open_dir(str(index_dir), indexname="t")
    terms: dict[tuple[str, bytes], Any] = {}
    levels: list[int] = []
    with ix.reader() as reader:
        for fieldname, term in reader.all_terms():
            info = reader.term_info(fieldname, term)
            stats = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length())
            stats += (info.max_weight(), info.min_id(), info.max_id())
            matcher = reader.postings(fieldname, term)
            postings = []
            while matcher.is_active():
                postings.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            terms[fieldname, term] = (stats, postings)
            leaf = reader.postings(fieldname, term)
            while leaf.is_active():
                levels.append(leaf._compression)
                leaf._next_block()
    return terms, levels


def test_small_blocks_are_stored_uncompressed_and_read_back_as_whooshs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zlib as Whoosh compresses, so the sizes compare what storing small blocks saves.
    monkeypatch.setattr(writing, "DEFLATE", None)
    # 400 passages: terms in one passage (a few bytes a block) and in hundreds (several blocks).
    records = list(_records(400))
    _write(tmp_path / "plain", SegmentWriter, [records], optimize=False)
    _write(tmp_path / "ours", FastSegmentWriter, [records], optimize=False)
    plain, plain_levels = _read_back(tmp_path / "plain")
    ours, our_levels = _read_back(tmp_path / "ours")
    assert ours == plain
    assert set(plain_levels) == {3}
    assert len(our_levels) == len(plain_levels) and set(our_levels) == {0, 3}
    # Most blocks are a rare word's few postings: left as pickles, the segment shrinks.
    assert our_levels.count(0) > len(our_levels) / 2
    sizes = {
        name: sum(f.stat().st_size for f in (tmp_path / name).glob("*.seg"))
        for name in ("plain", "ours")
    }
    assert 0 < sizes["ours"] < sizes["plain"]
