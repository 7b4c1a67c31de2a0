"""Plain data passed between the stages of the write side."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) of a document's text."""

    start: int
    end: int


@dataclass
class Metadata:
    """What a reader finds at the top of a briefing: title, date, source, byline.

    `skip` lists spans of the text that are not body (title line, date line, byline, boilerplate
    such as "0 Comments"): the chunker leaves them out of passages.
    """

    title: str
    date: str | None = None
    source: str | None = None
    byline: str | None = None
    skip: list[Span] = field(default_factory=list)
    # True when no title line was found and the title was cut from the lead sentence: a title
    # the file states about itself (PDF info, Word properties) is then the better one.
    title_guessed: bool = field(default=False, compare=False)


@dataclass
class Passage:
    """One searchable chunk of a document, with offsets into the document's text."""

    ordinal: int
    start: int
    end: int
    text: str
    countries: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    # Float16 sentence embedding of title + passage, set only when semantic rescoring is on.
    embedding: bytes | None = None
    # Paged documents (PDF): the 1-based page the passage starts on and the one it ends on.
    page: int | None = None
    page_end: int | None = None


@dataclass
class ParsedDocument:
    """A document read, described and cut into tagged passages, ready to index."""

    doc_id: str
    text: str
    metadata: Metadata
    passages: list[Passage]
    content_hash: str
    size: int
    mtime: float
    format: str
    # The countries the document is *about*, strongest first (index/tagging/subjects.py);
    # `countries` stays every country its passages concern.
    subject_countries: list[str] = field(default_factory=list)
    # An e-mail attachment's e-mail: its doc_id is `<parent>/<attachment name>`.
    parent: str | None = None
    # Paged documents: pages[i] is the offset in `text` where page i + 1 starts.
    pages: list[int] | None = None

    @property
    def countries(self) -> list[str]:
        """The union of the passages' countries, in order of first appearance."""
        return _union(p.countries for p in self.passages)

    @property
    def topics(self) -> list[str]:
        """The union of the passages' topics, in order of first appearance."""
        return _union(p.topics for p in self.passages)

    def passage_id(self, ordinal: int) -> str:
        """The stable id of passage `ordinal`: `<doc_id>#<ordinal>`."""
        return f"{self.doc_id}#{ordinal}"


def _union(lists: Iterable[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for values in lists:
        for value in values:
            seen.setdefault(value, None)
    return list(seen)
