"""Readers per format: bytes on disk become the document's plain text. (Stub: being written.)"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
SUPPORTED_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def read_document(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Return (text, format) for the file at path, or raise a DocumentSkipped subclass."""
    raise NotImplementedError
