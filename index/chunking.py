"""Cut a document's body into paragraph-aware passages. (Stub: being written.)"""

from __future__ import annotations

from index.model import Span

MIN_WORDS = 40
MAX_WORDS = 200


def chunk_text(
    text: str, skip: list[Span], min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> list[Span]:
    """Return passage spans over text, leaving out the skip spans, never splitting a sentence."""
    raise NotImplementedError
