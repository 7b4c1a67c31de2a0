"""The index record's one owner: schema, version, encoding for writing, decoding for reading.

Nothing else knows Whoosh field names. The writer (index/sync.py) hands a parsed document to
`passage_fields`; readers turn stored fields back into a `PassageRecord` with `decode_passage`
and ask `IndexView` what the index knows of each file.

Versions: the index directory holds `briefing-index.json` naming the active Whoosh index
(`briefing_v<N>`), its schema version and a fingerprint of its fields. When the code's schema
differs (version bumped, or a field's type or analyzer changed without a bump), the writer builds
a new index beside the old one under the new name; readers keep serving the old one until the
rebuild commits and the marker file is switched in one atomic rename.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, NUMERIC, STORED, TEXT, FieldType, Schema
from whoosh.searching import Searcher

from search.analysis import text_analyzer
from search.errors import IndexNotFound, SearchError
from search.facet_registry import TAGS, VALUE, FacetRegistry, default_registry

log = logging.getLogger(__name__)

# Bump when the record changes meaning without changing its fields' types (the fingerprint
# catches type and analyzer changes on its own). 1 was the unversioned index named "passages".
# 3: every passage carries `seq`, its commit's sequence number (saved searches percolate by it).
SCHEMA_VERSION = 3
INDEX_PREFIX = "briefing_v"
# The index written before versions existed; served until a rebuild replaces it.
LEGACY_INDEX_NAME = "passages"
MARKER = "briefing-index.json"
SEQ_FIELD = "seq"


class SchemaMismatch(SearchError):
    """The index on disk was built for another schema than the code's."""


@dataclass(frozen=True)
class ActiveIndex:
    """Which Whoosh index in a directory serves reads, and what schema it was built for."""

    name: str
    version: int
    fingerprint: str


@dataclass
class PassageRecord:
    """One passage as the index holds it, with its document's metadata."""

    passage_id: str
    doc_id: str
    ordinal: int
    title: str | None
    date: str | None
    source: str | None
    byline: str | None
    text: str
    start: int | None
    end: int | None
    content_hash: str | None
    size: int | None
    # Tag facets' values by record key ("countries" → ["CR", "PA"]).
    tags: dict[str, list[str]] = field(default_factory=dict)
    # The document's whole text: on ordinal 0 only, and only when asked for.
    doc_text: str | None = None
    # Pages of a paged document (PDF) the passage starts and ends on; None when unpaged.
    page: int | None = None
    page_end: int | None = None
    # The e-mail an attachment came with, or None.
    parent: str | None = None
    # Where each page starts in the document's text (ordinal 0, with doc_text only).
    doc_pages: list[int] | None = None


@dataclass(frozen=True)
class IndexedDocument:
    """What the index remembers of a file, enough to tell whether it changed."""

    content_hash: str
    size: int
    mtime: float
    # Whether its passages carry embeddings: turning semantic rescoring on re-embeds the rest.
    embedded: bool = False


class IndexableMetadata(Protocol):
    """The metadata the store writes (index/model.py's Metadata)."""

    title: str
    date: str | None
    source: str | None
    byline: str | None


class IndexablePassage(Protocol):
    """The passage fields the store writes (index/model.py's Passage)."""

    ordinal: int
    start: int
    end: int
    text: str
    embedding: bytes | None


class IndexableDocument(Protocol):
    """What the store needs of a parsed document (index/model.py's ParsedDocument)."""

    doc_id: str
    text: str
    content_hash: str
    size: int
    mtime: float

    parent: str | None
    pages: list[int] | None

    @property
    def metadata(self) -> IndexableMetadata: ...

    @property
    def passages(self) -> list[Any]: ...

    def passage_id(self, ordinal: int) -> str: ...


# -- schema ----------------------------------------------------------------------------------


def build_schema(facets: FacetRegistry | None = None) -> Schema:
    """The passage schema: one Whoosh document per passage, document metadata repeated."""
    facets = facets or default_registry()
    analyzer = text_analyzer()
    fields: dict[str, FieldType] = {
        "passage_id": ID(stored=True, unique=True),
        # doc_id, file_hash, file_size and file_mtime are columns: a sync reads what the index
        # knows of every file without loading stored fields (passage #0's hold the whole text).
        "doc_id": ID(stored=True, sortable=True),
        # One term per passage (Whoosh's default is a term per 4 bits, for range queries):
        # ordinals are only looked up exactly (ordinal 0: a document's first passage).
        "ordinal": NUMERIC(stored=True, sortable=True, shift_step=32),
        "start": STORED(),
        "end": STORED(),
        # No spelling field: it cost 40% of indexing time; suggestions correct stems and read the
        # surface word back from a passage (search/suggesting.py).
        "text": TEXT(analyzer=analyzer, stored=True, phrase=True),
        # Only for `title:` queries; plain words match the title through `text`.
        "title": TEXT(analyzer=analyzer, stored=True, phrase=True),
        # ISO date "YYYY-MM-DD" or absent; ID keeps lexicographic == chronological order.
        "date": ID(stored=True),
        "source": ID(stored=True),
        "source_text": TEXT(analyzer=analyzer),
        "byline": STORED(),
        "content_hash": STORED(),
        "size": STORED(),
        "file_hash": COLUMN(VarBytesColumn()),
        "file_size": COLUMN(NumericColumn("q", default=-1)),
        "file_mtime": COLUMN(NumericColumn("d", default=-1.0)),
        # The document's whole extracted text, stored on ordinal 0 only, for the document view.
        "doc_text": STORED(),
        # Paged documents (PDF): where each page starts in doc_text (ordinal 0 only), and the
        # pages a passage starts and ends on, for citations ("p. 4").
        "doc_pages": STORED(),
        "page": STORED(),
        "page_end": STORED(),
        # An e-mail attachment's e-mail (its doc_id): deleting the e-mail deletes its attachments.
        "parent": ID(stored=True),
        # The passage's sentence embedding (float16 bytes, search/embedding.py) when semantic
        # rescoring is on; a column so rescoring reads vectors without unpickling stored fields.
        "embedding": COLUMN(VarBytesColumn()),
        # A number given to each passage as it is committed, growing with every commit and never
        # reused: saved searches (search/alerts/) run against the passages after their cursor.
        # Four terms per passage, not sixteen: the one range query (the passages after a
        # percolation's cursor) spans few numbers, and a posting costs ~5 µs to write.
        SEQ_FIELD: NUMERIC(bits=64, signed=False, stored=True, sortable=True, shift_step=16),
    }
    for facet in facets:
        if facet.kind == TAGS and facet.field and facet.field not in fields:
            fields[facet.field] = KEYWORD(stored=True, commas=True, scorable=False)
        elif facet.kind == VALUE and facet.field and facet.field not in fields:
            fields[facet.field] = ID(stored=True)
    return Schema(**fields)


def schema_fingerprint(schema: Schema) -> str:
    """A digest of every field's name, type, options and analyzer chain.

    Whoosh compares schemas by field names when opening; this also notices a changed analyzer,
    stemmer or field type, which would otherwise leave old postings under new query rules.
    """
    parts = []
    for name in sorted(schema.names()):
        fieldtype = schema[name]
        analyzer = getattr(fieldtype, "analyzer", None)
        chain = [_describe(item) for item in getattr(analyzer, "items", [analyzer])]
        column = type(getattr(fieldtype, "column_type", None)).__name__
        fmt = type(getattr(fieldtype, "format", None)).__name__
        parts.append(f"{name}:{_describe(fieldtype)}:{fmt}:{column}:{chain}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _describe(item: object) -> str:
    """A component's class and plain settings (no callables or addresses, stable across runs)."""
    plain = (str, int, float, bool, type(None))
    settings: dict[str, object] = {}
    for key, value in sorted(getattr(item, "__dict__", {}).items()):
        if isinstance(value, plain):
            settings[key] = value
        elif isinstance(value, (frozenset, set, tuple, list)) and all(
            isinstance(v, plain) for v in value
        ):
            settings[key] = sorted(map(str, value))
        elif hasattr(value, "pattern"):
            settings[key] = value.pattern
    return f"{type(item).__name__}{settings}"


def expected_index(facets: FacetRegistry | None = None) -> ActiveIndex:
    """The index this code writes and wants to read."""
    fingerprint = schema_fingerprint(build_schema(facets))
    return ActiveIndex(f"{INDEX_PREFIX}{SCHEMA_VERSION}_{fingerprint}", SCHEMA_VERSION, fingerprint)


# -- which index is active ----------------------------------------------------------------------


def read_marker(index_dir: str | os.PathLike[str]) -> ActiveIndex | None:
    """The active index named by the directory's marker file, or the legacy index, or None."""
    path = Path(index_dir)
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
        return ActiveIndex(str(data["name"]), int(data["version"]), str(data["fingerprint"]))
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as exc:
        raise SchemaMismatch(f"unreadable {MARKER} in {index_dir}: {exc}") from exc
    if path.is_dir() and whoosh_index.exists_in(str(path), indexname=LEGACY_INDEX_NAME):
        return ActiveIndex(LEGACY_INDEX_NAME, 1, "")
    return None


def marker_stamp(index_dir: str | os.PathLike[str]) -> int:
    """When the marker file last changed (0 without one): a switch of index shows here."""
    try:
        return (Path(index_dir) / MARKER).stat().st_mtime_ns
    except OSError:
        return 0


def _write_marker(index_dir: Path, active: ActiveIndex) -> None:
    tmp = index_dir / f".{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(
        json.dumps(
            {"name": active.name, "version": active.version, "fingerprint": active.fingerprint}
        ),
        encoding="utf-8",
    )
    # One rename: a reader sees the old index or the new one, never neither.
    os.replace(tmp, index_dir / MARKER)


def index_exists(index_dir: str | os.PathLike[str]) -> bool:
    """True when index_dir holds an index that readers can open."""
    active = read_marker(index_dir)
    return active is not None and whoosh_index.exists_in(str(index_dir), indexname=active.name)


def open_index(index_dir: str | os.PathLike[str]) -> whoosh_index.Index:
    """Open the active index in index_dir for reading; IndexNotFound when there is none."""
    active = read_marker(index_dir)
    if active is None or not whoosh_index.exists_in(str(index_dir), indexname=active.name):
        raise IndexNotFound(f"no index in {index_dir}")
    return whoosh_index.open_dir(str(index_dir), indexname=active.name)


@dataclass
class WritableIndex:
    """The index a writer fills, and whether it still has to replace the active one."""

    index: whoosh_index.Index
    target: ActiveIndex
    # The index readers serve meanwhile (None: nothing to replace).
    previous: ActiveIndex | None
    reason: str | None = None

    @property
    def rebuilding(self) -> bool:
        """True while the index being filled is not yet the one readers serve."""
        return self.previous is not None and self.previous.name != self.target.name


def open_for_writing(
    index_dir: str | os.PathLike[str], facets: FacetRegistry | None = None
) -> WritableIndex:
    """The index the code's schema wants: the active one, or a new one to fill beside it."""
    path = Path(index_dir)
    path.mkdir(parents=True, exist_ok=True)
    target = expected_index(facets)
    active = read_marker(path)
    exists = whoosh_index.exists_in(str(path), indexname=target.name)
    ix = (
        whoosh_index.open_dir(str(path), indexname=target.name)
        if exists
        else whoosh_index.create_in(str(path), build_schema(facets), indexname=target.name)
    )
    if active is None:
        # A new directory: the empty index is served at once (readers see "no documents").
        _write_marker(path, target)
        return WritableIndex(ix, target, None)
    if active.name == target.name:
        return WritableIndex(ix, target, None)
    reason = (
        f"schema version {active.version} → {target.version}"
        if active.version != target.version
        else f"schema fields changed ({active.fingerprint} → {target.fingerprint})"
    )
    return WritableIndex(ix, target, active, reason)


def activate(index_dir: str | os.PathLike[str], writable: WritableIndex) -> None:
    """Serve the rebuilt index from now on and delete the files of the one it replaces."""
    path = Path(index_dir)
    _write_marker(path, writable.target)
    old = writable.previous
    if old is None or old.name == writable.target.name:
        return
    # Open readers keep their file handles (POSIX), so deleting under them is safe.
    prefixes = (f"{old.name}_", f"_{old.name}_")
    for entry in path.iterdir():
        if entry.name.startswith(prefixes) or entry.name == f"{old.name}_WRITELOCK":
            try:
                entry.unlink()
            except OSError as exc:
                log.warning("could not remove %s: %s", entry, exc)
    writable.previous = None


# -- records -----------------------------------------------------------------------------------


def passage_fields(
    doc: IndexableDocument, facets: FacetRegistry | None = None, first_seq: int | None = None
) -> Iterator[dict[str, object]]:
    """The Whoosh documents (one per passage) that represent doc in the index.

    With first_seq, the passages are numbered first_seq, first_seq + 1, … in `seq`.
    """
    facets = facets or default_registry()
    meta = doc.metadata
    tag_facets = facets.tags()  # the same for every passage: asked once per document
    for number, passage in enumerate(doc.passages):
        record: dict[str, object] = {
            "passage_id": doc.passage_id(passage.ordinal),
            "doc_id": doc.doc_id,
            "ordinal": passage.ordinal,
            "start": passage.start,
            "end": passage.end,
            # The title is indexed with every passage's text (one BM25 field scores better than
            # separate title and text fields: docs/relevance.md); the stored text stays the passage.
            "text": f"{meta.title}\n{passage.text}" if meta.title else passage.text,
            "_stored_text": passage.text,
            "title": meta.title,
            "byline": meta.byline,
            "content_hash": doc.content_hash,
            "size": doc.size,
            "file_hash": doc.content_hash.encode("ascii"),
            "file_size": doc.size,
            "file_mtime": doc.mtime,
        }
        for facet in tag_facets:
            assert facet.extract is not None and facet.field is not None
            record[facet.field] = ",".join(facet.extract(doc, passage))
        if meta.date:
            record["date"] = meta.date
        if meta.source:
            record["source"] = meta.source
            record["source_text"] = meta.source
        if passage.ordinal == 0:
            record["doc_text"] = doc.text
            if doc.pages:
                record["doc_pages"] = list(doc.pages)
        if getattr(passage, "page", None) is not None:
            record["page"] = passage.page
            record["page_end"] = passage.page_end
        if doc.parent:
            record["parent"] = doc.parent
        if passage.embedding is not None:
            record["embedding"] = passage.embedding
        if first_seq is not None:
            record[SEQ_FIELD] = first_seq + number
        yield record


def _split(value: object) -> list[str]:
    return [v for v in str(value or "").split(",") if v]


def decode_passage(
    stored: dict[str, Any], facets: FacetRegistry | None = None, with_doc_text: bool = False
) -> PassageRecord:
    """A passage record from its stored fields (fields an older index lacks come back empty)."""
    facets = facets or default_registry()
    return PassageRecord(
        passage_id=stored["passage_id"],
        doc_id=stored["doc_id"],
        ordinal=stored["ordinal"],
        title=stored.get("title"),
        date=stored.get("date"),
        source=stored.get("source"),
        byline=stored.get("byline"),
        text=stored.get("text", ""),
        start=stored.get("start"),
        end=stored.get("end"),
        content_hash=stored.get("content_hash"),
        size=stored.get("size"),
        tags={
            f.record_key: _split(stored.get(f.field))
            for f in facets.tags()
            if f.record_key and f.field
        },
        doc_text=stored.get("doc_text") if with_doc_text else None,
        page=stored.get("page"),
        page_end=stored.get("page_end"),
        parent=stored.get("parent"),
        doc_pages=stored.get("doc_pages") if with_doc_text else None,
    )


# -- what the index knows --------------------------------------------------------------------


class IndexView:
    """Questions about indexed files, answered from one searcher's view without stored fields."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher

    def docnums(self, doc_id: str) -> list[int]:
        """Docnums of every passage of doc_id."""
        return list(self.searcher.document_numbers(doc_id=doc_id))

    def passage_docnum(self, passage_id: str) -> int | None:
        """The docnum of one passage, or None."""
        return self.searcher.document_number(passage_id=passage_id)

    def first_passages(self) -> Iterator[int]:
        """Docnum of every document's first passage (one per document)."""
        return self.searcher.document_numbers(ordinal=0)

    def document_count(self) -> int:
        """How many documents this view holds."""
        return sum(1 for _ in self.first_passages())

    def passage_count(self) -> int:
        """How many live passages this view holds."""
        return int(self.searcher.doc_count())

    def content_hash(self, doc_id: str) -> str | None:
        """The SHA-256 the document had when indexed, or None when it is not indexed."""
        docnum = self.passage_docnum(f"{doc_id}#0")
        if docnum is None:
            return None
        reader = self.searcher.reader()
        if not reader.has_column("file_hash"):
            return None
        return bytes(reader.column_reader("file_hash")[docnum]).decode("ascii") or None

    def known_documents(
        self, doc_ids: Iterable[str] | None = None, embeddings: bool = False
    ) -> dict[str, IndexedDocument]:
        """doc_id → what the index recorded about the file when it was last indexed.

        With doc_ids, only those are looked up: a watcher batch costs what it touches, not what
        the index holds. With embeddings, `embedded` is read too (otherwise always False): only a
        semantic sync needs it, and a rescan should not read a vector per document.
        """
        state: dict[str, IndexedDocument] = {}
        if doc_ids is None:
            docnums: Iterable[int] = self.first_passages()
        else:
            found = (self.passage_docnum(f"{d}#0") for d in doc_ids)
            docnums = [n for n in found if n is not None]
        reader = self.searcher.reader()
        if not reader.has_column("doc_id"):
            return state  # an empty index has no columns yet
        ids, hashes, sizes, mtimes = (
            reader.column_reader(name)
            for name in ("doc_id", "file_hash", "file_size", "file_mtime")
        )
        vectors = None
        if embeddings and reader.has_column("embedding"):
            vectors = reader.column_reader("embedding")
        for docnum in docnums:
            digest = hashes[docnum].decode("ascii")
            embedded = vectors is not None and len(vectors[docnum]) > 0
            state[ids[docnum]] = IndexedDocument(digest, sizes[docnum], mtimes[docnum], embedded)
        return state

    def passage_documents(self, size: int) -> tuple[np.ndarray, list[str]]:
        """Each docnum's document as a code (int32, -1 for none) and the doc_ids the codes name.

        Read from the doc_id column once per view (search/grouping.py caches it): grouping and
        per-document counts are then numpy over the match mask. The column, not the postings:
        one lookup per document's postings took 13.6 s for 23k passages where the column took
        0.25 s (deleted passages get a code too; they are never in a match mask).
        """
        reader = self.searcher.reader()
        if not reader.has_column("doc_id"):
            return np.full(size, -1, dtype=np.int32), []  # an empty index has no columns yet
        index: dict[str, int] = {}
        column = reader.column_reader("doc_id")
        codes = np.fromiter(
            (index.setdefault(v, len(index)) for v in column), dtype=np.int32, count=size
        )
        return codes, list(index)

    def max_sequence(self) -> int:
        """The highest passage sequence number this view holds (0 when none has one).

        Reads the whole column: only for starting a sequence counter that was lost.
        """
        reader = self.searcher.reader()
        if not reader.has_column(SEQ_FIELD):
            return 0
        column = reader.column_reader(SEQ_FIELD)
        return max((int(column[n]) for n in reader.all_doc_ids()), default=0)

    def sequenced_after(self, after: int) -> dict[int, int]:
        """Docnum → sequence number of every live passage numbered above `after`."""
        reader = self.searcher.reader()
        if not reader.has_column(SEQ_FIELD):
            return {}
        column = reader.column_reader(SEQ_FIELD)
        found = self.searcher.docs_for_query(wq.NumericRange(SEQ_FIELD, after + 1, None))
        return {int(n): int(column[n]) for n in found}

    def indexed_below(self, folder: str) -> set[str]:
        """doc_ids indexed below a folder (a removed or moved folder takes these with it)."""
        prefix = folder.rstrip("/") + "/"
        return set(self.searcher.reader().expand_prefix("doc_id", prefix))
