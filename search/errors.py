"""Exceptions raised by the read side; every one derives from SearchError."""


class SearchError(Exception):
    """Root of every error raised by the search package."""


class IndexNotFound(SearchError):
    """The index directory holds no Whoosh index yet."""


class DocumentNotFound(SearchError):
    """No indexed document has the requested doc_id."""


class PassageNotFound(SearchError):
    """No indexed passage has the requested passage_id."""


class InvalidRequest(SearchError):
    """A search request names a value the engine cannot use (e.g. an unknown country code)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
