"""One document through every stage: read, describe, cut into passages, tag."""

from __future__ import annotations

import hashlib
from pathlib import Path

from index.chunking import chunk_text
from index.metadata import extract_metadata
from index.model import ParsedDocument, Passage
from index.readers import DEFAULT_MAX_BYTES, read_document
from index.tagging import country_tagger, topic_tagger
from index.tagging.subjects import subject_countries


def doc_id_for(docs_dir: Path, path: Path) -> str:
    """The document's id: its path relative to the documents folder, POSIX style."""
    return path.relative_to(docs_dir).as_posix()


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, the identity of its content across renames and touches."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_document(
    docs_dir: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, digest: str | None = None
) -> ParsedDocument:
    """Read, describe, chunk and tag the file at path; raise DocumentSkipped when it cannot be."""
    stat = path.stat()
    text, fmt = read_document(path, max_bytes=max_bytes)
    metadata = extract_metadata(text)
    countries = country_tagger()
    topics = topic_tagger()
    passages = []
    for ordinal, span in enumerate(chunk_text(text, metadata.skip)):
        passage_text = text[span.start : span.end]
        passages.append(
            Passage(
                ordinal=ordinal,
                start=span.start,
                end=span.end,
                text=passage_text,
                countries=countries.tag(passage_text),
                topics=topics.tag(passage_text),
            )
        )
    return ParsedDocument(
        doc_id=doc_id_for(docs_dir, path),
        text=text,
        metadata=metadata,
        passages=passages,
        content_hash=digest or content_hash(path),
        size=stat.st_size,
        mtime=stat.st_mtime,
        format=fmt,
        subject_countries=subject_countries(text, metadata.title),
    )
