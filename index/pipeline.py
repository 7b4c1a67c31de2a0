"""One file through every stage: read, describe, cut into passages, tag.

An e-mail yields more than one document: itself, then each attachment a reader supports, with
doc_id `<e-mail doc_id>/<attachment name>` and `parent` set to the e-mail's doc_id.
"""

from __future__ import annotations

import bisect
import hashlib
from pathlib import Path

from index.chunking import chunk_text
from index.metadata import extract_metadata
from index.model import Metadata, ParsedDocument, Passage
from index.readers import DEFAULT_MAX_BYTES, Extracted, Hints, ReadOptions, read_file
from index.tagging import country_tagger, topic_tagger
from index.tagging.subjects import subject_countries

NO_BODY_REASON = "no body text once title and boilerplate are removed"


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


def parse_file(
    docs_dir: Path,
    path: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    digest: str | None = None,
    options: ReadOptions | None = None,
) -> list[ParsedDocument | tuple[str, str]]:
    """The file's document first, then its attachments' (each a document or (doc_id, reason)).

    Raises DocumentSkipped when the file itself cannot be read. Attachments carry the e-mail's
    content hash, size and mtime: they change exactly when the e-mail does.
    """
    stat = path.stat()
    extracted = read_file(path, max_bytes=max_bytes, options=options)
    doc_id = doc_id_for(docs_dir, path)
    digest = digest or extracted.digest or content_hash(path)
    doc = build_document(doc_id, extracted, digest, stat.st_size, stat.st_mtime)
    results: list[ParsedDocument | tuple[str, str]] = [doc]
    for attachment in extracted.attachments:
        child_id = f"{doc_id}/{attachment.name}"
        if attachment.extracted is None:
            results.append((child_id, attachment.reason or "unreadable attachment"))
            continue
        child = build_document(
            child_id, attachment.extracted, digest, stat.st_size, stat.st_mtime, parent=doc_id
        )
        results.append(child if child.passages else (child_id, NO_BODY_REASON))
    return results


# An upload is checked before it is stored (api/writes.py) and indexed after, by the watcher. The
# check needs only "the reader takes it, and it has body text": a prefix this long (about 30,000
# words) settles that for any real document, so a big one is chunked in full only when the prefix
# held no passage, and never tagged. The full parse in the request took 100 s for a 20 MB text,
# past gunicorn's worker timeout (issue 17).
CHECK_PREFIX_CHARS = 200_000


def check_file(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, options: ReadOptions | None = None
) -> bool:
    """Whether the file has body text; raise DocumentSkipped when the reader refuses it."""
    extracted = read_file(path, max_bytes=max_bytes, options=options)
    text = extracted.text
    skip = apply_hints(extract_metadata(text), extracted.hints).skip
    if chunk_text(text[:CHECK_PREFIX_CHARS], skip):
        return True
    return len(text) > CHECK_PREFIX_CHARS and bool(chunk_text(text, skip))


def parse_document(
    docs_dir: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, digest: str | None = None
) -> ParsedDocument:
    """Read, describe, chunk and tag the file at path; raise DocumentSkipped when it cannot be."""
    first = parse_file(docs_dir, path, max_bytes=max_bytes, digest=digest)[0]
    assert isinstance(first, ParsedDocument)  # parse_file raises rather than skip the file
    return first


def build_document(
    doc_id: str,
    extracted: Extracted,
    digest: str,
    size: int,
    mtime: float,
    parent: str | None = None,
) -> ParsedDocument:
    """Describe, chunk and tag extracted text; passages of paged text get their pages."""
    text = extracted.text
    metadata = apply_hints(extract_metadata(text), extracted.hints)
    countries = country_tagger()
    topics = topic_tagger()
    pages = extracted.pages
    passages = []
    for ordinal, span in enumerate(chunk_text(text, metadata.skip)):
        passage_text = text[span.start : span.end]
        passage = Passage(
            ordinal=ordinal,
            start=span.start,
            end=span.end,
            text=passage_text,
            countries=countries.tag(passage_text),
            topics=topics.tag(passage_text),
        )
        if pages:
            passage.page = page_at(pages, span.start)
            passage.page_end = page_at(pages, max(span.start, span.end - 1))
        passages.append(passage)
    return ParsedDocument(
        doc_id=doc_id,
        text=text,
        metadata=metadata,
        passages=passages,
        content_hash=digest,
        size=size,
        mtime=mtime,
        format=extracted.format,
        subject_countries=subject_countries(text, metadata.title),
        parent=parent,
        pages=pages,
    )


def page_at(pages: list[int], offset: int) -> int:
    """The 1-based page holding text offset `offset`, given where each page starts."""
    return max(1, bisect.bisect_right(pages, offset))


def apply_hints(metadata: Metadata, hints: Hints) -> Metadata:
    """Fill the metadata from what the file states about itself.

    The text decides first, as for .txt (a PDF's info title is often "untitled" or a file
    name); an e-mail's headers decide outright.
    """
    if hints.authoritative:
        metadata.title = hints.title or metadata.title
        metadata.date = hints.date or metadata.date
        metadata.byline = hints.author or metadata.byline
        metadata.source = hints.source or metadata.source
        return metadata
    if metadata.title_guessed and hints.title:
        metadata.title = hints.title
    metadata.date = metadata.date or hints.date
    metadata.byline = metadata.byline or hints.author
    metadata.source = metadata.source or hints.source
    return metadata
