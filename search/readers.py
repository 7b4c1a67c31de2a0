"""Segment readers shared between index views, so a commit opens only its new segments.

Opening a Whoosh segment reader copies the segment's term file into memory (about 40 ms for a
3,000-passage segment here, and growing with its size), and `Index.searcher()` opens every
segment again at each commit. Whoosh's own `reuse=` mixes up segment ids and generations, and
`Searcher.refresh()` is known to serve deleted passages. Here a view's reader is built from the
previous view's: a segment that is still there with the same deletions keeps its open files; one
with new deletions keeps its term files but reads the new deletions; only new segments are
opened. Files are closed when no live view uses them any more (reference counts).

Whoosh maps each compound segment file (mmap) and hands out its sub-files (terms, postings,
columns) as `BufferFile`s over views of the map, but `BufferFile` wraps each view in a `BytesIO`,
which copies it: every open segment's term and postings files were read into each worker's
memory (1.05 s and a copy of most of the index at 100k passages, ten times that at a million).
`MappedFile` gives the same reads without the copy; `share_mapped_files()` installs it.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Callable
from typing import Any

from whoosh.filedb import compound
from whoosh.filedb.structfile import BufferFile
from whoosh.index import FileIndex, Index
from whoosh.reading import IndexReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

# The parts of a SegmentReader that hold files, closed in this order by SegmentReader.close.
_PARTS = ("_terms", "_perdoc", "_storage")


class MappedFile(io.RawIOBase):
    """A read-only raw file over a memoryview (of the segment's mmap): reads copy only what
    they read. Wrapped in io.BufferedReader, so pickle and Whoosh's small reads run in C."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        """Always: the file is for reading."""
        return True

    def seekable(self) -> bool:
        """Always: any position of the view."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill buffer from the current position; the number of bytes read."""
        chunk = self._view[self._pos : self._pos + len(buffer)]
        size = len(chunk)
        memoryview(buffer).cast("B")[:size] = chunk
        self._pos += size
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position as a file does."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def close(self) -> None:
        """Drop the view (the map itself is Whoosh's to close)."""
        self._view = memoryview(b"")
        super().close()


# Bytes a buffered read takes from the map at once: Whoosh reads a few dozen bytes (a block's
# header, a pickle) after each seek, and a seek drops the buffer.
MAPPED_READ_BUFFER = 1024


class MappedBufferFile(BufferFile):
    """Whoosh's BufferFile with a MappedFile in place of its copying BytesIO."""

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        super().__init__(b"", name=name, onclose=onclose)
        self._buf = buf
        self.file = io.BufferedReader(MappedFile(memoryview(buf)), MAPPED_READ_BUFFER)


def share_mapped_files() -> None:
    """Make Whoosh's compound storage hand out sub-files without copying them (idempotent).

    A process-wide swap of the class compound.py builds its sub-files with; the plain
    BufferFile is used again by restore_copied_files() (tests compare the two).
    """
    compound.BufferFile = MappedBufferFile


def restore_copied_files() -> None:
    """Whoosh's own, copying sub-files (the plain path share_mapped_files() replaces)."""
    compound.BufferFile = BufferFile


def _deletions(segment: Any) -> int:
    return int(segment.deleted_count()) if segment.has_deletions() else 0


class SharedReaders:
    """Opens views of one index, sharing open segment files between them."""

    def __init__(self) -> None:
        share_mapped_files()
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
