"""Exceptions raised by the write side; every one derives from IndexingError."""


class IndexingError(Exception):
    """Root of every error raised by the index package."""


class DocumentSkipped(IndexingError):
    """A document cannot be indexed; `reason` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedFormat(DocumentSkipped):
    """The file's type is not one the readers handle."""


class DocumentTooLarge(DocumentSkipped):
    """The file is over the configured size limit."""


class EmptyDocument(DocumentSkipped):
    """The file holds no text once read."""


class UndecodableDocument(DocumentSkipped):
    """The file is binary or its bytes are not text in any encoding we can detect."""
