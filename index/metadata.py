"""Find a briefing's title, date, source and byline the way a reader would. (Stub: being written.)"""

from __future__ import annotations

from index.model import Metadata


def extract_metadata(text: str) -> Metadata:
    """Return the document's metadata and the spans (title, date line, boilerplate) that are not body."""
    raise NotImplementedError
