"""Readers per format: a file on disk becomes the document's plain text (and pages, hints).

Text formats (.txt, Markdown, HTML) are read here. PDF, Word and e-mail go through a sandbox
process (`index/readers/sandbox.py`) with a memory limit and a timeout, because their parsers
run on untrusted binary input: a zip bomb or a pathological PDF costs that process, never the
indexer, the watcher or an API worker.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from index.errors import DocumentTooLarge, EmptyDocument, UnsupportedFormat
from index.readers.base import (
    DEFAULT_MAX_BYTES,
    Attachment,
    Extracted,
    Hints,
    ReadOptions,
    too_large,
)
from index.readers.text import BINARY_REASON, EMPTY_REASON, decode_bytes, text_from_bytes

__all__ = [
    "BINARY_REASON",
    "DEFAULT_MAX_BYTES",
    "EMPTY_REASON",
    "FORMATS",
    "REFUSED_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "TEXT_FORMATS",
    "Attachment",
    "Extracted",
    "Hints",
    "ReadOptions",
    "decode_bytes",
    "extract_bytes",
    "format_for",
    "read_document",
    "read_file",
]

# File suffix → format. Uploads, the watcher and `briefing index` accept exactly these.
FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".eml": "eml",
}
SUPPORTED_SUFFIXES = FORMATS  # the name the write API and older callers use
TEXT_FORMATS = frozenset({"txt", "md", "html"})
# Types people will drop that we knowingly do not read, with what to do instead.
REFUSED_SUFFIXES: dict[str, str] = {
    ".doc": "legacy Word .doc is not supported; save it as .docx",
    ".odt": "OpenDocument .odt is not supported; save it as .docx or PDF",
    ".msg": "Outlook .msg is not supported; save the message as .eml",
    ".rtf": "RTF is not supported; save it as .docx or PDF",
}


def format_for(name: str) -> str | None:
    """The format a reader supports for a file name, or None."""
    return FORMATS.get(Path(name).suffix.lower())


def read_file(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, options: ReadOptions | None = None
) -> Extracted:
    """The file's text, page offsets, metadata hints and attachments; raise DocumentSkipped."""
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        if suffix in REFUSED_SUFFIXES:
            raise UnsupportedFormat(REFUSED_SUFFIXES[suffix])
        raise UnsupportedFormat(
            f"unsupported file type {suffix}" if suffix else "unsupported file type (no extension)"
        )
    # Only the sandboxed formats need the settings (their limits, OCR); a text format's limit is
    # max_bytes, and reading four settings per .txt file showed in indexing profiles.
    if options is None and fmt not in TEXT_FORMATS:
        options = ReadOptions.from_env(max_bytes)
    limit = options.limit(fmt) if options is not None else max_bytes
    # Check the size before reading so a huge file never lands in memory.
    size = path.stat().st_size
    if size > limit:
        raise DocumentTooLarge(too_large(size, limit))
    if fmt not in TEXT_FORMATS:
        from index.readers.sandbox import extract_in_sandbox

        assert options is not None  # read above for every sandboxed format
        return extract_in_sandbox(fmt, path, options)
    with path.open("rb") as handle:
        # Read what stat said, then whatever it grew by up to the limit: reading limit + 1 at
        # once allocates a buffer of the limit (20 MB by default) for every file.
        data = handle.read(size + 1)
        if len(data) > size:
            data += handle.read(limit + 1 - len(data))
    if len(data) > limit:  # the file grew between stat and read
        raise DocumentTooLarge(too_large(len(data), limit))
    digest = hashlib.sha256(data).hexdigest()
    return _checked(Extracted(text=text_from_bytes(data, fmt), format=fmt, digest=digest))


def read_document(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Return (text, format) for the file at path, or raise a DocumentSkipped subclass."""
    extracted = read_file(path, max_bytes=max_bytes)
    return extracted.text, extracted.format


def extract_bytes(fmt: str, data: bytes, options: ReadOptions, nested: bool = False) -> Extracted:
    """Read a file's bytes in this process (the sandbox calls this); attachments too, once."""
    if len(data) > options.limit(fmt):
        raise DocumentTooLarge(too_large(len(data), options.limit(fmt)))
    if fmt in TEXT_FORMATS:
        return _checked(Extracted(text=text_from_bytes(data, fmt), format=fmt))
    if fmt == "pdf":
        from index.readers.pdf import read_pdf

        return _checked(read_pdf(data, options))
    if fmt == "docx":
        from index.readers.word import read_docx

        return _checked(read_docx(data))
    if fmt == "eml":
        from index.readers.mail import read_eml

        # An e-mail attached to an e-mail is read for its own text; its attachments are not
        # followed, so nesting cannot multiply the work.
        def attachment(kind: str, payload: bytes) -> Extracted:
            return extract_bytes(kind, payload, options, nested=True)

        return _checked(read_eml(data, format_for, None if nested else attachment))
    raise UnsupportedFormat(f"unsupported format {fmt}")


def _checked(extracted: Extracted) -> Extracted:
    if not extracted.text.strip():
        raise EmptyDocument(EMPTY_REASON)
    return extracted
