"""Per-segment caches: what a Whoosh segment's files decode to, kept for as long as it exists.

Whoosh segments are immutable: a commit adds a segment (and may mark passages of older ones
deleted), a merge replaces a few segments by one. So decoded postings, facet columns, dates,
field lengths and match sets are kept per segment, as Lucene does, and a new searcher view
only decodes the segments it has not seen: a watcher commit of one file costs that file's
segment, not the index. Deletions never change a segment's files; views apply them through
their live mask (search/facets.py), so every cached set may hold passages deleted since.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.reading import IndexReader
from whoosh.system import _INT_SIZE
from whoosh.util.numeric import byte_to_length

from search.facet_registry import YEAR, FacetRegistry

# The ranked text field (every passage's title and text).
TEXT_FIELD = "text"
# Decoded postings kept per process (per gunicorn worker) across index versions, least recently
# used out first. 8 bytes a posting (docnum and frequency): 128 MB holds the postings of about
# 16M (word, passage) pairs, the words of a few hundred queries at a million passages.
POSTINGS_CACHE_BYTES = 128 * 1024 * 1024
# Positions kept for phrase checks, counted in postings (decoded: 8 bytes a posting for where its
# positions start, 4 a position): 4M postings is ~50 MB, the words of many phrases at 1M.
POSITIONS_CACHE_POSTINGS = 4_000_000
# Match sets of Whoosh-matched queries (prefixes, fields, exclusions, phrases) kept per segment
# and query; each holds the matching docnums of one segment (4 bytes each).
SEGMENT_MATCH_CACHE_SIZE = 512
# Whoosh stores a field length as one byte; this maps the byte back to the length it stands for.
LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)
NO_DATE = 0
# Where decoded segment data is kept on disk, below the index directory (Whoosh's clean-up of
# files it does not know stays out of sub-folders). Decoding a segment's facet columns from its
# postings costs about 12 ms per 1,000 passages; loading them back costs a file read. So a
# worker that starts (or restarts) reads what the first one decoded, as Lucene's doc values.
SEGMENT_STORE_DIR = ".segment-data"
# Bump when what a stored file holds changes: older files are then not read (2: columns in
# docnum order; 3: raw arrays instead of .npz).
SEGMENT_STORE_FORMAT = 3
# A stored file: this magic, the header's length (8 bytes, little-endian), the header (JSON:
# each array's name, dtype, shape, offset and size), then the arrays' bytes, read in one call.
# numpy's .npz is a zip: a member parsed and a CRC checked per array; a fresh process's first
# search at 1M passages spent 220–260 ms loading the 29 segments' files, raw bytes ~50 ms.
SEGMENT_STORE_MAGIC = b"BSEGDATA"
SEGMENT_STORE_SUFFIX = ".arrays"
# Each array starts at a multiple of this in the data read back (one buffer): numpy reads an
# unaligned array through a copy in every operation; 64 bytes is a cache line.
SEGMENT_STORE_ALIGN = 64
# A stored file whose segment is not in the current view is removed, when segments next leave
# the view, once it is this old (a worker on an older or newer view may still use it for a
# while; losing one costs a decode).
SEGMENT_STORE_GRACE_SECONDS = 600

log = logging.getLogger(__name__)


def segment_id(reader: IndexReader) -> str:
    """A segment's identity: its name, unique for the life of the index (merges make new ones)."""
    segment = reader.segment()
    # An index without any segment reads as one empty reader.
    return str(segment.segment_id()) if segment is not None else "empty"


@dataclass
class Postings:
    """One term's postings in one segment: local docnums, frequencies, and encoded positions."""

    ids: np.ndarray  # int32, ascending
    tf: np.ndarray  # float32
    # Each posting's encoded positions (Whoosh's format), only when asked for (phrases).
    values: list[bytes] | None = None

    @property
    def nbytes(self) -> int:
        """Memory of the arrays (positions counted apart)."""
        return int(self.ids.nbytes + self.tf.nbytes)


def _block_arrays(matcher: W3LeafMatcher) -> tuple[np.ndarray, np.ndarray, Any]:
    """The current postings block as (docnums, frequencies, values), decoded with numpy.

    Whoosh decodes a block's delta-coded ids one Python generator step at a time; a cumulative
    sum does the same in one call.
    """
    if matcher._data is None:
        matcher._read_data()
    raw_ids, raw_weights = matcher._data[0], matcher._data[1]
    if matcher._byteids:
        ids = np.asarray(raw_ids, dtype=np.int32)
    else:
        ids = np.cumsum(np.asarray(raw_ids, dtype=np.int64)).astype(np.int32)
    if raw_weights is None:
        tf = np.ones(len(ids), dtype=np.float32)
    elif isinstance(raw_weights, float):
        tf = np.full(len(ids), raw_weights, dtype=np.float32)
    else:
        tf = np.asarray(raw_weights, dtype=np.float32)
    return ids, tf, matcher._data[2] if len(matcher._data) > 2 else None


def read_postings(
    reader: IndexReader, fieldname: str, text: str, with_values: bool = False
) -> Postings:
    """A term's raw postings in one segment (deleted passages included: views mask them)."""
    if (fieldname, text) not in reader:
        return Postings(np.zeros(0, np.int32), np.zeros(0, np.float32), [] if with_values else None)
    matcher = reader.postings(fieldname, text)
    # Deleted passages are dropped by the view's live mask, so read the raw postings.
    matcher = getattr(matcher, "child", matcher)
    id_parts: list[np.ndarray] = []
    tf_parts: list[np.ndarray] = []
    values: list[bytes] = []
    if isinstance(matcher, W3LeafMatcher) and not (with_values and matcher._fixedsize):
        while matcher.is_active():
            ids, tf, vs = _block_arrays(matcher)
            id_parts.append(ids)
            tf_parts.append(tf)
            if with_values:
                values.extend(vs)
            matcher._next_block()
    else:
        # Inlined postings (a word in one passage of the segment) come as a list matcher.
        ids_list: list[int] = []
        tf_list: list[float] = []
        while matcher.is_active():
            ids_list.append(matcher.id())
            tf_list.append(matcher.weight())
            if with_values:
                values.append(matcher.value())
            matcher.next()
        id_parts.append(np.asarray(ids_list, dtype=np.int32))
        tf_parts.append(np.asarray(tf_list, dtype=np.float32))
    return Postings(
        np.concatenate(id_parts) if id_parts else np.zeros(0, np.int32),
        np.concatenate(tf_parts) if tf_parts else np.zeros(0, np.float32),
        values if with_values else None,
    )


@dataclass(frozen=True)
class PositionArrays:
    """One term's positions in one segment: posting i's are flat[starts[i]:starts[i + 1]]."""

    flat: np.ndarray  # int32, ascending within each posting
    starts: np.ndarray  # int64, one more than there are postings

    def __len__(self) -> int:
        return int(self.starts.size - 1)


def decode_positions(values: list[bytes]) -> PositionArrays:
    """Whoosh's Positions values (a 4-byte count, then the pickled position deltas, its final
    STOP opcode stripped when stored) decoded into flat arrays: the pickles are read by the C
    unpickler and the deltas summed by numpy, not position by position in Python."""
    if not values:
        return PositionArrays(np.zeros(0, np.int32), np.zeros(1, np.int64))
    deltas = [
        pickle.loads(v[_INT_SIZE:] if v.endswith(b".") else v[_INT_SIZE:] + b".") for v in values
    ]
    counts = np.fromiter((len(d) for d in deltas), np.int64, len(deltas))
    starts = np.zeros(len(deltas) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    flat = np.fromiter(itertools.chain.from_iterable(deltas), np.int64, int(starts[-1]))
    # Running sums restart at each posting: subtract the sum reached before it.
    running = np.cumsum(flat)
    before = np.repeat(running[starts[:-1] - 1] * (starts[:-1] > 0), counts)
    return PositionArrays((running - before).astype(np.int32), starts)


@dataclass
class SegmentColumn:
    """One facet field of one segment: every (local docnum, value code) pair."""

    values: list[str]
    docnums: np.ndarray  # int32, ascending (a passage's values side by side)
    codes: np.ndarray  # int32, index into values

    @classmethod
    def from_reader(cls, reader: IndexReader, fieldname: str) -> SegmentColumn:
        """Read the field's terms and postings (a facet field has few distinct values)."""
        values: list[str] = []
        doc_parts: list[np.ndarray] = []
        code_parts: list[np.ndarray] = []
        if fieldname in reader.indexed_field_names():
            for value in reader.field_terms(fieldname):
                ids = read_postings(reader, fieldname, value).ids
                doc_parts.append(ids)
                code_parts.append(np.full(len(ids), len(values), dtype=np.int32))
                values.append(value)
        docnums = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int32)
        codes = np.concatenate(code_parts) if code_parts else np.zeros(0, np.int32)
        # In docnum order: a few matches then find their values by binary search
        # (FacetColumn.counts) instead of a pass over the whole column.
        order = np.argsort(docnums, kind="stable")
        return cls(values, docnums[order], codes[order])

    @functools.cached_property
    def value_index(self) -> dict[str, int]:
        """Each value's code."""
        return {value: code for code, value in enumerate(self.values)}

    @functools.cached_property
    def value_runs(self) -> tuple[np.ndarray, np.ndarray]:
        """Docnums grouped by value (ascending within each) and where each value's start:
        value code c's docnums are docnums[starts[c]:starts[c + 1]]. Made on first use and kept
        with the segment: a filter then sets its values' docnums, not a pass over every pair."""
        order = np.argsort(self.codes, kind="stable")
        starts = np.zeros(len(self.values) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.codes, minlength=len(self.values)), out=starts[1:])
        return self.docnums[order], starts


@dataclass
class SegmentData:
    """Everything a view needs of one segment that its files alone decide."""

    segid: str
    size: int  # docnums, deleted ones included
    columns: dict[str, SegmentColumn]  # by facet name
    dates: np.ndarray  # int32 YYYYMMDD, NO_DATE when undated
    lengths: np.ndarray  # float32, the ranked field's length per passage
    # Per facet: this segment's value codes → the cache's codes for the same values.
    code_maps: dict[str, np.ndarray] = field(default_factory=dict)

    @functools.cached_property
    def years(self) -> np.ndarray:
        """Each passage's year (0 when undated), int32."""
        return np.where(self.dates > 0, self.dates // 10000, 0).astype(np.int32)

    @classmethod
    def from_reader(cls, reader: IndexReader, facets: FacetRegistry) -> SegmentData:
        """Decode one segment's facet columns, dates and field lengths."""
        size = reader.doc_count_all()
        columns = {
            facet.name: SegmentColumn.from_reader(reader, facet.field)
            for facet in facets
            if facet.kind != YEAR and facet.field
        }
        dates = np.full(size, NO_DATE, dtype=np.int32)
        date_column = SegmentColumn.from_reader(reader, "date")
        if date_column.values:
            as_ints = np.array([date_int(v) for v in date_column.values], dtype=np.int32)
            dates[date_column.docnums] = as_ints[date_column.codes]
        return cls(segment_id(reader), size, columns, dates, _field_lengths(reader, size))

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything from_reader decoded, as named arrays (what the store writes)."""
        out = {"size": np.array([self.size]), "dates": self.dates, "lengths": self.lengths}
        for name, column in self.columns.items():
            out[f"values:{name}"] = np.array(column.values, dtype=str)
            out[f"docnums:{name}"] = column.docnums
            out[f"codes:{name}"] = column.codes
        return out

    @classmethod
    def from_arrays(cls, segid: str, arrays: Any, facets: FacetRegistry) -> SegmentData:
        """The data arrays() gave (a stored file), for the same facets."""
        columns = {}
        for facet in facets:
            if facet.kind == YEAR or not facet.field:
                continue
            columns[facet.name] = SegmentColumn(
                [str(v) for v in arrays[f"values:{facet.name}"]],
                arrays[f"docnums:{facet.name}"],
                arrays[f"codes:{facet.name}"],
            )
        size = int(arrays["size"][0])
        return cls(segid, size, columns, arrays["dates"], arrays["lengths"])


def write_arrays(handle: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays (no objects) in the store's format: magic, header, raw bytes."""
    entries = []
    offset = 0
    parts = []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.hasobject:
            raise ValueError(f"{name}: an array of objects cannot be stored")
        padding = -offset % SEGMENT_STORE_ALIGN
        offset += padding
        entries.append([name, array.dtype.str, list(array.shape), offset, array.nbytes])
        parts.append((padding, array))
        offset += array.nbytes
    header = json.dumps({"arrays": entries, "bytes": offset}).encode()
    handle.write(SEGMENT_STORE_MAGIC + len(header).to_bytes(8, "little") + header)
    for padding, array in parts:
        handle.write(bytes(padding) + array.tobytes())


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays write_arrays wrote to path (writable, over one buffer); ValueError when the
    file is not one, or torn."""
    with path.open("rb") as handle:
        head = handle.read(len(SEGMENT_STORE_MAGIC) + 8)
        if len(head) != len(SEGMENT_STORE_MAGIC) + 8 or not head.startswith(SEGMENT_STORE_MAGIC):
            raise ValueError("not a segment data file")
        header = json.loads(handle.read(int.from_bytes(head[len(SEGMENT_STORE_MAGIC) :], "little")))
        data = bytearray(int(header["bytes"]))
        if handle.readinto(data) != len(data) or handle.read(1):
            raise ValueError("segment data file of the wrong length")
    arrays = {}
    for name, dtype, shape, offset, size in header["arrays"]:
        kind = np.dtype(dtype)
        if size == 0:
            arrays[name] = np.empty(shape, dtype=kind)
            continue
        flat = np.frombuffer(data, dtype=kind, count=size // kind.itemsize, offset=offset)
        arrays[name] = flat.reshape(shape)
    return arrays


class SegmentStore:
    """Decoded segment data kept as files below the index, one per segment and facets.

    Best effort: an index directory this process cannot write (a read-only replica), a file
    that is missing, torn or from another format, all fall back to decoding the segment.
    """

    def __init__(self, folder: Path, facets: FacetRegistry) -> None:
        self.folder = folder
        spec = [(f.name, f.field, f.kind) for f in facets]
        digest = hashlib.sha256(repr((SEGMENT_STORE_FORMAT, spec)).encode()).hexdigest()
        # Files of another facet set or format are never read.
        self.signature = digest[:12]

    def _path(self, segid: str) -> Path:
        return self.folder / f"{segid}-{self.signature}{SEGMENT_STORE_SUFFIX}"

    def load(self, segid: str, facets: FacetRegistry) -> SegmentData | None:
        """The stored data of one segment, or None."""
        try:
            return SegmentData.from_arrays(segid, read_arrays(self._path(segid)), facets)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("segment data %s unreadable, decoding the segment: %s", segid, exc)
            return None

    def save(self, data: SegmentData) -> None:
        """Keep one segment's data (atomically: a reader sees the whole file or none)."""
        path = self._path(data.segid)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(exist_ok=True)
            with tmp.open("wb") as handle:
                write_arrays(handle, data.arrays())
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("segment data %s not stored: %s", data.segid, exc)
            tmp.unlink(missing_ok=True)

    def prune(self, current: set[str], now: float | None = None) -> None:
        """Remove stored files of segments outside `current` that are past the grace time."""
        now = time.time() if now is None else now
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            segid = entry.name.split("-", 1)[0].lstrip(".")
            try:
                if segid not in current and now - entry.stat().st_mtime > (
                    SEGMENT_STORE_GRACE_SECONDS
                ):
                    os.unlink(entry.path)
            except OSError:
                continue


def _field_lengths(reader: IndexReader, size: int) -> np.ndarray:
    """The ranked field's length of every passage, read from Whoosh's one-byte length column."""
    lengths = np.ones(size, dtype=np.float32)
    # An index without segments reads as one EmptyReader, which has no per-document files.
    perdoc = getattr(reader, "_perdoc", None)
    column = perdoc._cached_reader(f"_{TEXT_FIELD}_len", LENGTHS_COLUMN) if perdoc else None
    if column is None:
        return lengths
    if hasattr(column, "_dbfile") and hasattr(column, "_basepos"):
        # The column is one byte per passage on disk: read it whole rather than per passage.
        count = min(column._count, size)
        raw = np.frombuffer(column._dbfile.get(column._basepos, count), dtype=np.uint8)
        raw = np.concatenate([raw, np.zeros(size - count, np.uint8)])
    else:
        raw = np.fromiter(column, dtype=np.uint8, count=size)
    lengths[:] = LENGTH_OF_BYTE[raw]
    return lengths


def date_int(iso: str) -> int:
    """An ISO date (or datetime) as the int YYYYMMDD."""
    return int(iso[:10].replace("-", ""))


def live_mask(reader: IndexReader, size: int) -> np.ndarray:
    """True for each passage of the segment that is not deleted (cost: its deletions)."""
    live = np.ones(size, dtype=bool)
    if reader.has_deletions():
        deleted = np.fromiter(reader.segment().deleted_docs(), dtype=np.int64)
        live[deleted[deleted < size]] = False
    return live


class SegmentCache:
    """Decoded data of every segment a process has seen, kept while the segment exists.

    One per index directory and process (SnapshotManager), shared by the views (snapshots) of
    successive index versions. Thread-safe: requests of one worker's threads share it.
    """

    def __init__(
        self,
        facets: FacetRegistry,
        match_cache_size: int = SEGMENT_MATCH_CACHE_SIZE,
        postings_bytes: int = POSTINGS_CACHE_BYTES,
        store: SegmentStore | None = None,
    ) -> None:
        self.facets = facets
        # Decoded segment data on disk, shared with other processes (None: decode always).
        self.store = store
        self.match_cache_size = match_cache_size
        self.postings_bytes = postings_bytes
        self._segments: dict[str, SegmentData] = {}
        self._postings: OrderedDict[tuple[str, str], Postings] = OrderedDict()
        self._postings_held = 0
        self._positions: OrderedDict[tuple[str, str], PositionArrays] = OrderedDict()
        self._positions_held = 0
        self._matches: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        # Per facet, every value any segment has held → its code (only grows: a value whose
        # segments were merged away keeps its code and counts 0).
        self.values: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        # Segments taken in so far, and how many of them came from the store (a test's and
        # the benchmark's window on reuse).
        self.built = 0
        self.loaded = 0

    def segments(self, leaves: Iterable[tuple[IndexReader, int]]) -> list[SegmentData]:
        """Each leaf reader's data, decoding only segments not seen before; segments merged
        away are forgotten, with their postings and match sets."""
        out = []
        for reader, _ in leaves:
            segid = segment_id(reader)
            with self._lock:
                data = self._segments.get(segid)
            if data is None:
                data = self.store.load(segid, self.facets) if self.store else None
                if data is not None:
                    self.loaded += 1
                else:
                    data = SegmentData.from_reader(reader, self.facets)
                    if self.store is not None and segid != "empty":
                        self.store.save(data)
                with self._lock:
                    for name, column in data.columns.items():
                        index = self.values.setdefault(name, {})
                        codes = [index.setdefault(v, len(index)) for v in column.values]
                        data.code_maps[name] = np.asarray(codes, dtype=np.int64)
                    self._segments[segid] = data
                    self.built += 1
            out.append(data)
        current = {d.segid for d in out}
        # The store is pruned when segments leave (a merge), not at every view: a directory
        # scan per commit would buy nothing.
        if self._forget_except(current) and self.store is not None:
            self.store.prune(current)
        return out

    def _forget_except(self, current: set[str]) -> bool:
        """Drop what segments outside `current` held; whether any segment was dropped."""
        with self._lock:
            gone = [s for s in self._segments if s not in current]
            for segid in gone:
                del self._segments[segid]
            for cache in (self._postings, self._positions, self._matches):
                for key in [k for k in cache if k[0] not in current]:
                    entry = cache.pop(key)
                    if cache is self._postings:
                        self._postings_held -= entry.nbytes  # type: ignore[union-attr]
                    elif cache is self._positions:
                        self._positions_held -= len(entry)  # type: ignore[arg-type]
        return bool(gone)

    def postings(self, reader: IndexReader, term: str, segid: str | None = None) -> Postings:
        """A text term's postings in one segment, decoded once while the segment lives
        (segid: the reader's segment_id, when the caller has it)."""
        key = (segid or segment_id(reader), term)
        with self._lock:
            found = self._postings.get(key)
            if found is not None:
                self._postings.move_to_end(key)
                return found
        found = read_postings(reader, TEXT_FIELD, term)
        with self._lock:
            if key not in self._postings:
                self._postings[key] = found
                self._postings_held += found.nbytes
            while self._postings_held > self.postings_bytes and len(self._postings) > 1:
                _, old = self._postings.popitem(last=False)
                self._postings_held -= old.nbytes
        return found

    def positions(self, reader: IndexReader, term: str) -> PositionArrays:
        """A text term's positions per posting in one segment, decoded once (phrase checks)."""
        key = (segment_id(reader), term)
        with self._lock:
            found = self._positions.get(key)
            if found is not None:
                self._positions.move_to_end(key)
                return found
        values = decode_positions(
            read_postings(reader, TEXT_FIELD, term, with_values=True).values or []
        )
        with self._lock:
            if key not in self._positions:
                self._positions[key] = values
                self._positions_held += len(values)
            while self._positions_held > POSITIONS_CACHE_POSTINGS and len(self._positions) > 1:
                _, old = self._positions.popitem(last=False)
                self._positions_held -= len(old)
        return values

    def match(self, segid: str, key: str) -> np.ndarray | None:
        """A query's local docnums in one segment if they were kept, else None."""
        with self._lock:
            found = self._matches.get((segid, key))
            if found is not None:
                self._matches.move_to_end((segid, key))
            return found

    def keep_match(self, segid: str, key: str, docnums: np.ndarray) -> None:
        """Keep a query's local docnums in one segment (unless match caching is off)."""
        if self.match_cache_size <= 0:
            return
        with self._lock:
            self._matches[(segid, key)] = docnums
            while len(self._matches) > self.match_cache_size:
                self._matches.popitem(last=False)
