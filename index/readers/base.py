"""What a reader hands on: the text, where its pages start, metadata hints and attachments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Plain text, Markdown and HTML: a briefing of this size is already a book.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# PDFs carry fonts and images besides their text: reports of 30-80 MB are common.
DEFAULT_MAX_PDF_BYTES = 100 * 1024 * 1024
# Word files embed images; e-mails carry their attachments base64-encoded (a third larger).
DEFAULT_MAX_WORD_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_EMAIL_BYTES = 50 * 1024 * 1024


@dataclass
class Hints:
    """Metadata a file states about itself (PDF info, Word core properties, e-mail headers).

    For PDF and Word the text decides first and hints fill gaps; an e-mail's headers are
    `authoritative`: its subject is its title whatever the body's first line says.
    """

    title: str | None = None
    author: str | None = None
    date: str | None = None
    source: str | None = None
    authoritative: bool = False


@dataclass
class Attachment:
    """A file attached to an e-mail: its sanitised name and its extracted text, or why not."""

    name: str
    extracted: Extracted | None = None
    reason: str | None = None


@dataclass
class Extracted:
    """A file's plain text as a reader found it.

    `pages[i]` is the offset in `text` where page i + 1 starts (paged formats only), so a span's
    page is found by bisection and every offset still indexes `text`.
    """

    text: str
    format: str
    pages: list[int] | None = None
    hints: Hints = field(default_factory=Hints)
    attachments: list[Attachment] = field(default_factory=list)
    # SHA-256 of the file's bytes when this process read them whole (text formats): the
    # indexer's content hash without reading the file a second time.
    digest: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Per-type size limits and OCR, read from the BRIEFING_* settings unless given."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pdf_bytes: int = DEFAULT_MAX_PDF_BYTES
    max_word_bytes: int = DEFAULT_MAX_WORD_BYTES
    max_email_bytes: int = DEFAULT_MAX_EMAIL_BYTES
    ocr: bool = False

    def limit(self, fmt: str) -> int:
        """The size limit in bytes for a file of format fmt."""
        return {
            "pdf": self.max_pdf_bytes,
            "docx": self.max_word_bytes,
            "eml": self.max_email_bytes,
        }.get(fmt, self.max_bytes)

    @classmethod
    def from_env(cls, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadOptions:
        """Options from the settings (search/settings.py): indexer, watcher and API workers."""
        from search.settings import setting_value

        return cls(
            max_bytes=max_bytes,
            max_pdf_bytes=int(setting_value("MAX_PDF_BYTES")),
            max_word_bytes=int(setting_value("MAX_WORD_BYTES")),
            max_email_bytes=int(setting_value("MAX_EMAIL_BYTES")),
            ocr=bool(setting_value("OCR")),
        )


def too_large(size: int, limit: int) -> str:
    """The skip reason for a file of size bytes over limit."""
    return f"file is {human_size(size)}, over the {human_size(limit)} limit"


def human_size(size: int) -> str:
    """Bytes as a short human figure: "1.5 MB", "20 KB", "12 bytes"."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


# Ligatures some PDF fonts and Word files emit as one code point: searched words must not
# depend on the font ("ﬁnancial" must match "financial").
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)
# NUL and other control characters (tab and newline aside) that extractors leave behind.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def normalise(text: str) -> str:
    """Ligatures spelled out, stray control characters and non-breaking spaces made plain."""
    text = text.translate(_LIGATURES).replace("\u00a0", " ").replace("\r\n", "\n")
    return _CONTROLS.sub("", text.replace("\r", "\n"))
