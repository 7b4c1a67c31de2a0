"""Segment readers shared between index views, so a commit opens only its new segments.

Opening a Whoosh segment reader copies the segment's term file into memory (about 40 ms for a
3,000-passage segment here, and growing with its size), and `Index.searcher()` opens every
segment again at each commit. Whoosh's own `reuse=` mixes up segment ids and generations, and
`Searcher.refresh()` is known to serve deleted passages. Here a view's reader is built from the
previous view's: a segment that is still there with the same deletions keeps its open files; one
with new deletions keeps its term files but reads the new deletions; only new segments are
opened. Files are closed when no live view uses them any more (reference counts).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from whoosh.index import FileIndex, Index
from whoosh.reading import IndexReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

# The parts of a SegmentReader that hold files, closed in this order by SegmentReader.close.
_PARTS = ("_terms", "_perdoc", "_storage")


def _deletions(segment: Any) -> int:
    return int(segment.deleted_count()) if segment.has_deletions() else 0


class SharedReaders:
    """Opens views of one index, sharing open segment files between them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # id(part) → (part, how many live views hold it)
        self._held: dict[int, tuple[Any, int]] = {}
        # segment id → (reader, its deletion count) of the newest view
        self._latest: dict[str, tuple[SegmentReader, int]] = {}

    def searcher(self, ix: Index, weighting: Callable[[], Any]) -> Searcher:
        """A searcher over the index's newest commit, reusing the previous views' open files."""
        if not isinstance(ix, FileIndex):
            return ix.searcher(weighting=weighting())
        toc = ix._read_toc()
        if not toc.segments:
            return ix.searcher(weighting=weighting())
        readers = []
        latest = {}
        for segment in toc.segments:
            segid = segment.segment_id()
            deletions = _deletions(segment)
            known = self._latest.get(segid)
            if known is None:
                reader = SegmentReader(ix.storage, toc.schema, segment, generation=toc.generation)
            else:
                # A copy: the previous view's reader keeps its own generation and deletions.
                reader = copy.copy(known[0])
                reader._gen = toc.generation
                if known[1] != deletions:
                    reader._segment = segment
                    reader._perdoc = reader._codec.per_document_reader(reader._storage, segment)
            readers.append(reader)
            latest[segid] = (reader, deletions)
        with self._lock:
            self._latest = latest
            for reader in readers:
                for name in _PARTS:
                    part = getattr(reader, name)
                    if part is not None:
                        held = self._held.get(id(part), (part, 0))
                        self._held[id(part)] = (part, held[1] + 1)
        top: IndexReader = (
            readers[0] if len(readers) == 1 else MultiReader(readers, generation=toc.generation)
        )
        # The searcher must not close the readers: release() does, part by part.
        return Searcher(top, weighting=weighting(), fromindex=ix, closereader=False)

    def release(self, searcher: Searcher) -> None:
        """The view is done: close the files no other live view shares."""
        reader = searcher.reader()
        leaves = [r for r, _ in reader.leaf_readers()]
        closing = []
        with self._lock:
            for leaf in leaves:
                if not isinstance(leaf, SegmentReader):
                    closing.append(leaf.close)
                    continue
                for name in _PARTS:
                    part = getattr(leaf, name)
                    if part is None or id(part) not in self._held:
                        continue
                    obj, count = self._held[id(part)]
                    if count <= 1:
                        del self._held[id(part)]
                        closing.append(obj.close)
                    else:
                        self._held[id(part)] = (obj, count - 1)
                leaf.is_closed = True
            if not self._held:
                self._latest = {}
            else:
                self._latest = {
                    segid: (r, d)
                    for segid, (r, d) in self._latest.items()
                    if id(r._terms) in self._held
                }
        for close in closing:
            close()
