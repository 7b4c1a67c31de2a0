"""The one Whoosh schema, shared by the writer (index/) and the readers (search/, api/)."""

from __future__ import annotations

import os
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from search.analysis import text_analyzer

INDEX_NAME = "passages"


def build_schema() -> Schema:
    """Return the passage schema: one Whoosh document per passage, document metadata repeated."""
    analyzer = text_analyzer()
    return Schema(
        passage_id=ID(stored=True, unique=True),
        # doc_id, file_hash, file_size and file_mtime are columns: a sync reads what the index
        # knows of every file without loading stored fields (passage #0's hold the whole text).
        doc_id=ID(stored=True, sortable=True),
        ordinal=NUMERIC(stored=True, sortable=True),
        start=STORED(),
        end=STORED(),
        # No separate spelling field: it cost 40% of indexing time; suggestions correct stems and
        # read the surface word back from a passage (search/searching.py).
        text=TEXT(analyzer=analyzer, stored=True, phrase=True),
        # Only for `title:` queries; plain words match the title through `text`.
        title=TEXT(analyzer=analyzer, stored=True, phrase=True),
        # ISO date "YYYY-MM-DD" or absent; ID keeps lexicographic == chronological order.
        date=ID(stored=True),
        source=ID(stored=True),
        source_text=TEXT(analyzer=analyzer),
        byline=STORED(),
        countries=KEYWORD(stored=True, commas=True, scorable=False),
        topics=KEYWORD(stored=True, commas=True, scorable=False),
        content_hash=STORED(),
        size=STORED(),
        file_hash=COLUMN(VarBytesColumn()),
        file_size=COLUMN(NumericColumn("q", default=-1)),
        file_mtime=COLUMN(NumericColumn("d", default=-1.0)),
        # The document's whole extracted text, stored on ordinal 0 only, for the document view.
        doc_text=STORED(),
        # The passage's sentence embedding (float16 bytes, search/embedding.py) when semantic
        # rescoring is on; a column so rescoring reads vectors without unpickling stored fields.
        embedding=COLUMN(VarBytesColumn()),
    )


def index_exists(index_dir: str | os.PathLike[str]) -> bool:
    """True when index_dir holds a passage index."""
    path = Path(index_dir)
    return path.is_dir() and whoosh_index.exists_in(str(path), indexname=INDEX_NAME)


def open_index(index_dir: str | os.PathLike[str]) -> whoosh_index.Index:
    """Open the passage index in index_dir for reading or writing."""
    from search.errors import IndexNotFound

    if not index_exists(index_dir):
        raise IndexNotFound(f"no index in {index_dir}")
    return whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)


def create_or_open_index(index_dir: str | os.PathLike[str]) -> whoosh_index.Index:
    """Open the passage index in index_dir, creating the directory and an empty index if needed."""
    path = Path(index_dir)
    path.mkdir(parents=True, exist_ok=True)
    if index_exists(path):
        ix = whoosh_index.open_dir(str(path), indexname=INDEX_NAME)
        if set(ix.schema.names()) == set(build_schema().names()):
            return ix
    return whoosh_index.create_in(str(path), build_schema(), indexname=INDEX_NAME)
