"""Word (.docx): paragraphs, headings, lists and tables in document order, with python-docx.

The text is laid out as the HTML reader lays out a page, so the chunker treats both alike: each
paragraph and heading is a block, a list's items are "- item" lines of one block, a table's rows
are "cell | cell" lines of one block, and blocks are separated by blank lines.
"""

from __future__ import annotations

import io
import zipfile

from docx.oxml.coreprops import CT_CoreProperties
from docx.oxml.parser import oxml_parser, parse_xml
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from index.errors import DocumentSkipped, EmptyDocument
from index.readers.base import Extracted, Hints, normalise

DAMAGED_REASON = "not a readable Word file (damaged or truncated)"
# A .docx is a zip of XML. Real documents inflate 5-30 times (images barely at all); a zip bomb
# inflates thousands of times. Both limits are checked on the zip's directory before reading.
MAX_INFLATED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200
# Ratios are only meaningful for members big enough to matter.
RATIO_MIN_BYTES = 1024 * 1024
MAX_MEMBERS = 10_000

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_JUNK_AUTHORS = {"", "python-docx", "author", "user", "admin", "administrator", "windows user"}


def read_docx(data: bytes) -> Extracted:
    """The text of a .docx, with title, author and date from its core properties as hints.

    Only the main document part and the core properties are parsed, with python-docx's XML
    classes: opening the whole package (styles, numbering, theme, fonts) with docx.Document()
    cost 5x more than the rest of indexing a typical file and reads nothing we keep.
    """
    archive = check_zip(data)
    try:
        body = parse_xml(archive.read(_main_part(archive))).find(f"{_W}body")
        core = _core_properties(archive)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, etree.XMLSyntaxError) as exc:
        raise DocumentSkipped(DAMAGED_REASON) from exc
    if body is None:
        raise DocumentSkipped(DAMAGED_REASON)
    text = normalise("\n\n".join(_blocks(body)))
    if not text.strip():
        raise EmptyDocument("empty document")
    return Extracted(text=text, format="docx", hints=_hints(core))


def _main_part(archive: zipfile.ZipFile) -> str:
    """The main document part's name, from the package relationships (word/document.xml)."""
    try:
        rels = etree.fromstring(archive.read("_rels/.rels"), oxml_parser)
    except KeyError:
        return "word/document.xml"
    for rel in rels:
        if str(rel.get("Type", "")).endswith("/officeDocument"):
            return str(rel.get("Target", "")).lstrip("/")
    return "word/document.xml"


def _core_properties(archive: zipfile.ZipFile) -> CT_CoreProperties | None:
    try:
        core = parse_xml(archive.read("docProps/core.xml"))
    except (KeyError, etree.XMLSyntaxError):
        return None  # metadata is optional: the text is what matters
    return core if isinstance(core, CT_CoreProperties) else None


def check_zip(data: bytes) -> zipfile.ZipFile:
    """The zip, unless it is not one or would inflate past our limits (a zip bomb)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentSkipped(DAMAGED_REASON) from exc
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise DocumentSkipped(f"zip holds over {MAX_MEMBERS:,} files (zip bomb?)")
    inflated = sum(member.file_size for member in members)
    if inflated > MAX_INFLATED_BYTES:
        raise DocumentSkipped(f"inflates to over {MAX_INFLATED_BYTES >> 20} MB (zip bomb?)")
    for member in members:
        if member.file_size >= RATIO_MIN_BYTES and member.file_size > MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise DocumentSkipped(f"{member.filename} inflates {MAX_RATIO}+ times (zip bomb?)")
    return archive


def _blocks(body: BaseOxmlElement) -> list[str]:
    """Paragraphs, headings, lists and tables of the body, in order, as text blocks."""
    blocks: list[str] = []
    items: list[str] = []
    for child in body.iterchildren():
        if child.tag == f"{_W}p":
            paragraph = Paragraph(child, None)  # type: ignore[arg-type]  # no package needed
            text = " ".join(paragraph.text.split())
            if not text:
                continue
            if _is_list_item(paragraph):
                items.append(f"{'  ' * _list_level(paragraph)}- {text}")
                continue
            if items:
                blocks.append("\n".join(items))
                items = []
            blocks.append(text)
        elif child.tag == f"{_W}tbl":
            if items:
                blocks.append("\n".join(items))
                items = []
            rows = _table_rows(Table(child, None))  # type: ignore[arg-type]
            if rows:
                blocks.append("\n".join(rows))
    if items:
        blocks.append("\n".join(items))
    return blocks


def _is_list_item(paragraph: Paragraph) -> bool:
    """Numbered or bulleted (w:numPr), or in a List style ("ListBullet", "ListNumber")."""
    ppr = paragraph._p.pPr
    if ppr is None:
        return False
    if ppr.numPr is not None:
        return True
    # The style id from the XML: python-docx's paragraph.style looks the style up among all
    # styles on every call, which made reading a Word file 10x slower than the rest of indexing.
    style = ppr.pStyle
    return style is not None and str(style.val).startswith("List")


def _list_level(paragraph: Paragraph) -> int:
    """How deep a list item is nested (w:ilvl), 0 for the outer level."""
    levels = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
    try:
        return int(levels[0]) if levels else 0
    except ValueError:
        return 0


def _table_rows(table: Table) -> list[str]:
    """Each row as "cell | cell"; a merged cell, which python-docx repeats, counts once."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _hints(core: CT_CoreProperties | None) -> Hints:
    """Title, author and creation date from the core properties."""
    if core is None:
        return Hints()
    title = " ".join((core.title_text or "").split()) or None
    author = " ".join((core.author_text or "").split())
    created = core.created_datetime
    return Hints(
        title=title,
        author=None if author.lower() in _JUNK_AUTHORS else author,
        date=created.date().isoformat() if created is not None else None,
    )
