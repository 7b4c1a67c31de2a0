"""PDF: text per page in the order a person reads it, with pdfium (pypdfium2).

pdfium reports a page's text as "rects", one per run of text on a line. From their positions
this module finds columns (two-column pages read left column, then right), drops the running
headers, footers and page numbers that repeat on every page, rebuilds paragraphs from line
spacing, joins words hyphenated at a line end and spells out ligatures. Pages without text are
read by tesseract when OCR is on.
"""

from __future__ import annotations

import bisect
import ctypes
import datetime as dt
import re
import shutil
import statistics
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from index.chunking import ends_sentence
from index.errors import DocumentSkipped, EmptyDocument
from index.readers.base import Extracted, Hints, ReadOptions, normalise

ENCRYPTED_REASON = "encrypted"
NO_TEXT_REASON = "no text layer (scanned?)"
DAMAGED_REASON = "not a readable PDF (damaged or truncated)"

# Header and footer bands: the first and last two baselines of a page. Running heads rarely take
# more than two lines, and looking deeper would start eating body text.
BAND_LINES = 2
# A band line is a running head when it recurs (digits aside) on at least this share of pages.
REPEAT_SHARE = 0.5
# A column is at most this share of the text's width; full-width lines are not column lines.
COLUMN_MAX_SHARE = 0.55
# Lines needed on each side of a gutter before a page counts as two columns.
COLUMN_MIN_LINES = 3
# A vertical step this much larger than the page's usual line pitch starts a paragraph.
PARAGRAPH_GAP = 1.35
# A line ending this far short of its column's right edge is a paragraph's last line.
SHORT_LINE_SHARE = 0.12
# Runs on one baseline closer than this many font sizes are one line (wider: a gutter).
SAME_LINE_GAP = 1.5
# OCR resolution: tesseract reads 300 dpi best; the page image is grayscale.
OCR_DPI = 300
# One page of OCR takes 1-5 s on our machines; a page that takes this long is not worth it.
OCR_PAGE_TIMEOUT = 120
OCR_LANGUAGES = "eng+spa"

_PAGE_NUMBER = re.compile(
    r"(?:(?:page|p\.|pág\.?|página)\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?"
    r"(?:\s*(?:of|/|de)\s*\d{1,4})?",
    re.I,
)
_DIGITS = re.compile(r"\d+")
_BULLET = re.compile(r"(?:[•◦▪‣●·*–-]|\d{1,3}[.)])\s")
_HYPHENS = ("-", "\u00ad", "\u2010", "\x02")
# Values authoring tools put in the info dictionary when nobody filled it in.
_JUNK_VALUES = {"", "untitled", "anonymous", "unspecified", "unknown", "none", "title"}
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d{2})?(\d{2})?")


@dataclass
class _Line:
    """One line of a page: its text, left and right edges, baseline and font size."""

    text: str
    left: float
    right: float
    base: float
    size: float
    column: int = -1  # 0 left, 1 right, -1 full width (or a one-column page)


def read_pdf(data: bytes, options: ReadOptions) -> Extracted:
    """The text of a PDF, page by page, with page offsets and info-dictionary hints."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentSkipped(ENCRYPTED_REASON) from exc
        raise DocumentSkipped(DAMAGED_REASON) from exc
    try:
        pages: list[list[_Line]] = []
        broken = 0
        for i in range(len(pdf)):
            try:
                page = pdf[i]
                try:
                    pages.append(_page_lines(page))
                finally:
                    page.close()  # now, not at garbage collection: a 2,000-page PDF adds up
            except pdfium.PdfiumError:
                # A damaged page reads as empty; the others still count.
                pages.append([])
                broken += 1
        if broken == len(pages):
            raise DocumentSkipped(DAMAGED_REASON)
        textless = [i for i, lines in enumerate(pages) if not lines]
        ocr: dict[int, list[str]] = {}
        if textless and options.ocr:
            ocr = {i: _ocr_paragraphs(pdf, i) for i in textless}
        elif len(textless) == len(pages):
            raise DocumentSkipped(NO_TEXT_REASON)
        hints = _hints(pdf.get_metadata_dict())
    finally:
        pdf.close()
    _drop_running_heads(pages)
    paragraphs = [ocr[i] if i in ocr else _paragraphs(lines) for i, lines in enumerate(pages)]
    text, offsets = _join_pages(paragraphs)
    if not text.strip():
        raise EmptyDocument(NO_TEXT_REASON if not options.ocr else "no text found, even by OCR")
    return Extracted(text=text, format="pdf", pages=offsets, hints=hints)


# --- one page ----------------------------------------------------------------------------------


def _page_lines(page: pdfium.PdfPage) -> list[_Line]:
    """The page's lines in reading order (columns resolved), empty when it has no text."""
    textpage = page.get_textpage()
    try:
        chars = textpage.count_chars()
        # One call for the page's text, then each run sliced out of it from its first character
        # to its line break: get_text_bounded per run scans the whole page each time (5x slower).
        whole = textpage.get_text_range() if chars > 0 else ""
        aligned = len(whole) == chars
        rects = [textpage.get_rect(i) for i in range(textpage.count_rects())]
        firsts = [_first_char(textpage, *rect) for rect in rects]
        starts = sorted(f for f in firsts if f is not None)
        runs = []
        for (left, bottom, right, top), first in zip(rects, firsts, strict=True):
            if aligned and first is not None:
                raw = whole[first : _run_end(whole, first, starts)]
            else:
                raw = textpage.get_text_bounded(left, bottom, right, top)
            # pdfium marks a hyphen it judged to end a line as \x02 (bounded text) or \ufffe
            # (page text); keep it as a hyphen so join_lines can decide.
            text = " ".join(normalise(raw.replace("\x02", "-").replace("\ufffe", "-")).split())
            if not text:
                continue
            base, size = _base_and_size(textpage, first, bottom, top)
            runs.append(_Line(text, left, right, base, size))
    finally:
        textpage.close()
    return _reading_order(_merge_runs(runs))


def _run_end(whole: str, first: int, starts: list[int]) -> int:
    """Where the run starting at character first ends: the line break, or the next run."""
    following = bisect.bisect_right(starts, first)
    end = starts[following] if following < len(starts) else len(whole)
    for mark in ("\r", "\n"):
        found = whole.find(mark, first, end)
        if found != -1:
            end = found
    return end


def _first_char(
    textpage: pdfium.PdfTextPage, left: float, bottom: float, right: float, top: float
) -> int | None:
    """Index of the run's first character, if pdfium finds one."""
    index = textpage.get_index(left + 0.5, (top + bottom) / 2, 2, top - bottom)
    if index is None or index < 0:
        return None
    # The point may land on the second character when the first is narrow ("i", "l"): step
    # back over characters whose boxes still lie inside the run.
    while index > 0:
        box_left, box_bottom, box_right, box_top = textpage.get_charbox(index - 1)
        inside = left - 0.5 <= box_left and box_right <= right + 0.5 and box_top > box_bottom
        if not inside or not (bottom - 1 <= box_bottom and box_top <= top + 1):
            break
        index -= 1
    return index


def _base_and_size(
    textpage: pdfium.PdfTextPage, index: int | None, bottom: float, top: float
) -> tuple[float, float]:
    """Baseline and font size of a run, from its first character (its box, failing that)."""
    height = top - bottom
    if index is None:
        return bottom, height
    size = pdfium_c.FPDFText_GetFontSize(textpage.raw, index)
    x, y = ctypes.c_double(), ctypes.c_double()
    if not pdfium_c.FPDFText_GetCharOrigin(textpage.raw, index, ctypes.byref(x), ctypes.byref(y)):
        return bottom, size or height
    return y.value, size or height


def _merge_runs(runs: list[_Line]) -> list[_Line]:
    """Runs on one baseline and close together become one line (a bold word, a link)."""
    runs.sort(key=lambda r: (-round(r.base), r.left))
    lines: list[_Line] = []
    for run in runs:
        last = lines[-1] if lines else None
        if (
            last is not None
            and abs(last.base - run.base) < 0.3 * max(run.size, 1.0)
            and 0 <= run.left - last.right < SAME_LINE_GAP * max(run.size, 1.0)
        ):
            last.text = f"{last.text} {run.text}"
            last.right = max(last.right, run.right)
            continue
        lines.append(run)
    return lines


def _reading_order(lines: list[_Line]) -> list[_Line]:
    """Top to bottom; on a two-column page each band reads its left column, then its right."""
    lines.sort(key=lambda line: (-line.base, line.left))
    gutter = _gutter(lines)
    if gutter is None:
        return lines
    start, end = gutter
    ordered: list[_Line] = []
    left: list[_Line] = []
    right: list[_Line] = []
    for line in lines:
        if line.left < start and line.right > end:  # full width: a title across both columns
            ordered += left + right
            left, right = [], []
            ordered.append(line)
        elif line.right <= end:
            line.column = 0
            left.append(line)
        else:
            line.column = 1
            right.append(line)
    return ordered + left + right


def _gutter(lines: list[_Line]) -> tuple[float, float] | None:
    """The empty vertical strip between two columns, if the page has two."""
    if len(lines) < 2 * COLUMN_MIN_LINES:
        return None
    x0 = min(line.left for line in lines)
    x1 = max(line.right for line in lines)
    width = x1 - x0
    narrow = sorted(
        (line for line in lines if line.right - line.left < COLUMN_MAX_SHARE * width),
        key=lambda line: line.left,
    )
    covered_to = None
    best: tuple[float, float] | None = None
    for line in narrow:
        if covered_to is not None and line.left > covered_to:
            gap = (covered_to, line.left)
            middle = (gap[0] + gap[1]) / 2
            if x0 + 0.3 * width <= middle <= x0 + 0.7 * width and (
                best is None or gap[1] - gap[0] > best[1] - best[0]
            ):
                best = gap
        covered_to = line.right if covered_to is None else max(covered_to, line.right)
    if best is None:
        return None
    start, end = best
    size = statistics.median(line.size for line in lines)
    on_left = sum(1 for line in narrow if line.right <= start)
    # Right-column lines start at the gutter's edge; a page number far to the right does not.
    on_right = sum(1 for line in narrow if end <= line.left <= end + 2 * size)
    if on_left >= COLUMN_MIN_LINES and on_right >= COLUMN_MIN_LINES:
        return best
    return None


def _paragraphs(lines: list[_Line]) -> list[str]:
    """The page's lines joined into paragraphs (hyphenated line ends joined)."""
    if not lines:
        return []
    pitches = [
        a.base - b.base
        for a, b in zip(lines, lines[1:], strict=False)
        if a.column == b.column and abs(a.size - b.size) < 0.5 and a.base > b.base
    ]
    # The lower quartile, not the median: in a page of one- and two-line paragraphs the gaps
    # between paragraphs are as common as the steps between lines.
    pitch = sorted(pitches)[len(pitches) // 4] if pitches else 1.2 * lines[0].size
    right_edge: dict[int, float] = {}
    left_edge: dict[int, float] = {}
    for line in lines:
        right_edge[line.column] = max(right_edge.get(line.column, line.right), line.right)
        left_edge[line.column] = min(left_edge.get(line.column, line.left), line.left)
    paragraphs: list[list[str]] = []
    prev: _Line | None = None
    for line in lines:
        if prev is None or _breaks(prev, line, pitch, left_edge, right_edge):
            paragraphs.append([line.text])
        else:
            paragraphs[-1].append(line.text)
        prev = line
    return [join_lines(paragraph) for paragraph in paragraphs]


def _breaks(
    prev: _Line, line: _Line, pitch: float, left: dict[int, float], right: dict[int, float]
) -> bool:
    """Whether line starts a new paragraph after prev."""
    if abs(prev.size - line.size) >= 0.5 or _BULLET.match(line.text):
        return True
    width = right[prev.column] - left[prev.column]
    short = prev.right < right[prev.column] - SHORT_LINE_SHARE * width
    if short and ends_sentence(prev.text.rsplit(" ", 1)[-1]):
        return True
    if prev.column == line.column and prev.base > line.base:
        return prev.base - line.base > PARAGRAPH_GAP * pitch
    # A new column or band: the paragraph goes on unless the last one visibly ended.
    return short or ends_sentence(prev.text.rsplit(" ", 1)[-1]) and not prev.text.endswith(",")


def join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as one line: "in-" + "creasingly" is "increasingly"."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif out.endswith(_HYPHENS) and out[-2:-1].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return out.replace("\x02", "-").replace("\u00ad", "")


# --- the whole document ------------------------------------------------------------------------


def _drop_running_heads(pages: list[list[_Line]]) -> None:
    """Remove page numbers, and header and footer lines that recur on most pages."""
    bands: list[list[_Line]] = [_band(lines) for lines in pages]
    counts: Counter[str] = Counter()
    for band in bands:
        counts.update({_key(line.text) for line in band})
    with_text = sum(1 for lines in pages if lines)
    needed = max(2, int(REPEAT_SHARE * with_text + 0.999))
    for lines, band in zip(pages, bands, strict=True):
        drop = {
            id(line)
            for line in band
            if _PAGE_NUMBER.fullmatch(line.text) or counts[_key(line.text)] >= needed
        }
        lines[:] = [line for line in lines if id(line) not in drop]


def _band(lines: list[_Line]) -> list[_Line]:
    """The lines on the first and last BAND_LINES baselines of a page."""
    bases = sorted({round(line.base) for line in lines}, reverse=True)
    edge = set(bases[:BAND_LINES] + bases[-BAND_LINES:])
    return [line for line in lines if round(line.base) in edge]


def _key(text: str) -> str:
    """A header line's identity across pages: case and numbers (page, date) aside."""
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def _join_pages(pages: list[list[str]]) -> tuple[str, list[int]]:
    """The document's text and where each page starts in it.

    A paragraph cut by a page break (no sentence end at the bottom of the page) is joined to the
    next page's first paragraph, so the chunker sees one paragraph; its page offset then falls
    inside it.
    """
    parts: list[str] = []  # joined once at the end: += on a growing string is quadratic
    length = 0
    offsets: list[int] = []
    for paragraphs in pages:
        if not paragraphs:
            offsets.append(length)
            continue
        page = "\n\n".join(paragraphs)
        last = parts[-1] if parts else ""
        if last and not ends_sentence(last.rsplit(None, 1)[-1]) and page[:1].islower():
            if last.endswith(_HYPHENS[:3]) and last[-2:-1].isalpha():
                parts[-1] = last[:-1]  # "in-" + "creasingly" across the page break
                length -= 1
            else:
                parts.append(" ")
                length += 1
        elif parts:
            parts.append("\n\n")
            length += 2
        offsets.append(length)
        parts.append(page)
        length += len(page)
    return "".join(parts), offsets


def _hints(info: dict[str, str]) -> Hints:
    """Title, author and date from the PDF's info dictionary, junk values left out."""
    title = _clean_info(info.get("Title", ""))
    if title:
        title = title.removeprefix("Microsoft Word - ")
        if re.search(r"\.(docx?|pdf|rtf|odt)$", title, re.I):
            title = None  # a file name, not a title
    return Hints(
        title=title or None,
        author=_clean_info(info.get("Author", "")),
        date=_pdf_date(info.get("CreationDate", "")),
    )


def _clean_info(value: str) -> str | None:
    value = " ".join(value.split())
    return None if value.strip("()").lower() in _JUNK_VALUES else value


def _pdf_date(value: str) -> str | None:
    """An info-dictionary date (D:YYYYMMDDHHmmSS...) as an ISO date, if it is a real one."""
    match = _PDF_DATE.match(value.strip())
    if not match or not match.group(2) or not match.group(3):
        return None
    try:
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return day.isoformat()


# --- OCR ---------------------------------------------------------------------------------------


def _ocr_paragraphs(pdf: pdfium.PdfDocument, index: int) -> list[str]:
    """A textless page read by tesseract, as paragraphs."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise DocumentSkipped(f"{NO_TEXT_REASON}; OCR is on but tesseract is not installed")
    try:
        bitmap = pdf[index].render(scale=OCR_DPI / 72, grayscale=True)
    except pdfium.PdfiumError:
        return []
    width, height = bitmap.width, bitmap.height
    stride = bitmap.stride
    raw = bytes(bitmap.buffer)
    # PGM is the simplest image file tesseract reads; rows are copied without pdfium's padding.
    rows = b"".join(raw[y * stride : y * stride + width] for y in range(height))
    with tempfile.TemporaryDirectory(prefix="briefing-ocr-") as tmp:
        image = Path(tmp) / "page.pgm"
        image.write_bytes(b"P5\n%d %d\n255\n" % (width, height) + rows)
        try:
            done = subprocess.run(
                [tesseract, str(image), "stdout", "-l", OCR_LANGUAGES, "--psm", "3"],
                capture_output=True,
                timeout=OCR_PAGE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return []
    text = normalise(done.stdout.decode("utf-8", "replace"))
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        rows_text = [" ".join(row.split()) for row in block.split("\n") if row.strip()]
        if rows_text:
            paragraphs.append(join_lines(rows_text))
    return paragraphs
