"""index/writing.py writes the segments Whoosh's own writer writes, posting for posting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from whoosh.writing import SegmentWriter

import index.sync as sync
from index.sync import IndexSyncer
from index.writing import chain_settings, positions_items
from search.facet_registry import default_registry
from search.store import build_schema
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
    stems: dict[str, str] = {}
    compared = 0
    for name in fields:
        field = schema[name]
        chain = chain_settings(field.analyzer)
        assert chain is not None
        for text in _texts():
            fast = positions_items(chain, field.format, text, stems)
            assert sorted(fast) == sorted(field.index(text)), text[:80]
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
