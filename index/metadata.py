"""Find a briefing's title, date, source and byline the way a reader would."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from itertools import compress, count
from pathlib import Path

from index.chunking import ends_sentence
from index.model import Metadata, Span

_DATA = Path(__file__).parent
BOILERPLATE_FILE = _DATA / "boilerplate.txt"
PUBLISHERS_FILE = _DATA / "publishers.tsv"

HEADER_LINES = 8  # a briefing's title, date and byline sit in its first few lines
FOOTER_LINES = 6  # the signature, credits and comment form sit in its last few
TITLE_MAX_WORDS = 25
DERIVED_TITLE_WORDS = 14  # a title made from the lead sentence is cut to about this many words

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAY = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_FULL_DATE = re.compile(
    rf"\b(?P<iy>\d{{4}})[-/.](?P<im>\d{{1,2}})[-/.](?P<id>\d{{1,2}})(?!\d)"
    rf"|\b(?P<a>\d{{1,2}})[-/.](?P<b>\d{{1,2}})[-/.](?P<ny>\d{{4}})\b"
    rf"|\b(?P<mon>{_MONTH})\.?\s+(?P<md>\d{{1,2}}){_ORD}(?:,\s*|\s+)(?P<my>\d{{4}})\b"
    rf"|\b(?P<dd>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<dmon>{_MONTH})\.?,?\s+(?P<dy>\d{{4}})\b",
    re.I,
)
# A date a reader sees even without a year ("Sep 9"): marks a line as a date line, gives no date.
_PARTIAL_DATE = re.compile(
    rf"\b{_MONTH}\.?\s+\d{{1,2}}{_ORD}\b|\b\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}\b", re.I
)
_WEEKDAY_WORD = re.compile(rf"\b{_WEEKDAY}\b\.?", re.I)
# What else a date line or the tail of a byline may hold besides dates.
_FILLER = re.compile(
    r"\b(?:vol(?:ume)?|no|issue|edition)\.?\s*\d+\b"
    r"|\b\d+\s+(?:comments?|responses?|replies)\b"
    r"|\b\d+\s+min(?:ute)?s?(?:\s+read)?\b"
    r"|\b\d{1,2}:\d{2}(?:\s*[ap]\.?m\.?)?(?:\s*[A-Z]{2,4}\b)?"
    r"|\b(?:updated|published|posted|last|modified|on|at)\b:?"
    r"|[|·•,/—–-]",
    re.I,
)

_NAME_WORD = rf"(?!(?i:{_MONTH}|{_WEEKDAY})\b)[A-Z](?:[^\W\d_]|['’.-])*"
_PARTICLE = r"(?:de|da|del|della|der|van|von|la|le|bin|al|el|dos|du)"
_NAME = rf"{_NAME_WORD}(?:\s+(?:{_NAME_WORD}|{_PARTICLE})){{1,3}}"
_NAMES = rf"{_NAME}(?:(?:\s*,\s*|\s+(?:and|&)\s+){_NAME})*"
_BY_LINE = re.compile(rf"(?i:by|written by|words by)\s+(?P<name>{_NAMES})(?P<rest>.*)")
_NAME_THEN_DATE = re.compile(rf"(?P<name>{_NAMES})\s+(?P<rest>.+)")
_LONE_NAME = re.compile(rf"(?:(?i:by)\s+)?(?P<name>{_NAMES})")

# "TAIPEI (Taiwan News) —": a capitalised place, an optional agency, then a dash.
_DATELINE = re.compile(
    r"(?P<place>[A-Z][A-Z.'’ -]+(?:,\s*[A-Z][\w.'’ -]*)?)\s*(?:\((?P<agency>[^)]{2,60})\))?\s*[—–-]+\s+"
)
_SOURCES_LINE = re.compile(r"sources?\s*:\s*(?P<names>.+)", re.I)
_IMAGE_SOURCE = re.compile(r"image source(?: from)?\s*:\s*(?P<name>.+)", re.I)
_OUTLET_SPLIT = re.compile(r"\s*(?:&|,|;|/|\band\b)\s*")
_LIST_OR_ROW = re.compile(r"(?:[-*+•◦‣▪–]|\d{1,3}[.)])\s|.*\|")
_WORD = re.compile(r"\S*\w\S*")
_TITLE_END = re.compile(r"[.,;:]['\"”’)\]]*$")
# A line's text, stripped: from its first to its last non-space character.
_LINE_TEXT = re.compile(r"\S(?:[^\n]*\S)?")
# Every full or partial date has a digit: a line without one is settled without their scans.
_DIGIT = re.compile(r"\d")
_GENERIC_LABELS = frozenset({"com", "org", "net", "gov", "edu", "int", "info", "co", "www"})
# Words a cut title should not end on.
_DANGLING = frozenset(
    "a an and as at by for from in into of on or than that the to with".split()  # noqa: SIM905
)


def extract_metadata(text: str) -> Metadata:
    """Return the document's metadata and the spans (title, date line, boilerplate) that are not body."""
    # One scan in C for the lines, one more for their texts; only the few lines the header and
    # footer walks and the skip spans look at are used one by one.
    lines = list(_LINE_TEXT.finditer(text))
    texts: list[str] = _LINE_TEXT.findall(text)
    boilerplate = set(compress(count(), map(_boilerplate().fullmatch, texts)))
    skip = boilerplate | _repeated(texts)

    title: str | None = None
    title_lines: list[int] = []
    date_texts: list[str] = []
    byline: str | None = None
    sources: list[str] = []
    body_start = len(texts)
    for i, value in enumerate(texts[:HEADER_LINES]):
        if i in boilerplate:
            continue
        if _is_date_line(value):
            date_texts.append(value)
        elif (by := _byline(value)) is not None:
            byline = byline or by[0]
            date_texts.append(by[1])
        elif match := _SOURCES_LINE.fullmatch(value):
            sources.append(match.group("names"))
        elif title is None and _is_title_line(value):
            title = value
            title_lines.append(i)
        elif title is not None and value == title:
            title_lines.append(i)
        else:
            body_start = i
            break
        skip.add(i)

    # Walk back from the end over signature, credits and comment-form lines.
    for i in range(len(texts) - 1, max(body_start, len(texts) - FOOTER_LINES) - 1, -1):
        value = texts[i]
        if i in skip:
            pass
        elif match := _SOURCES_LINE.fullmatch(value):
            sources.append(match.group("names"))
        elif (name := _LONE_NAME.fullmatch(value)) and len(_WORD.findall(value)) <= 8:
            byline = byline or name.group("name")
        else:
            break
        skip.add(i)

    first_body = next((i for i in range(len(texts)) if i not in skip), None)
    if first_body is None:  # a document that is nothing but a title keeps it as its body
        skip.difference_update(title_lines)
        first_body = title_lines[0] if title_lines else None
    lead = texts[first_body] if first_body is not None else ""
    guessed = title is None
    if title is None:
        title = _title_from_lead(lead)
    return Metadata(
        title=title,
        date=_find_date(date_texts),
        source=_find_source(lead, [texts[i] for i in sorted(skip)], sources),
        byline=byline,
        skip=[Span(*lines[i].span()) for i in sorted(skip)],
        title_guessed=guessed,
    )


def parse_date(text: str, weekday: int | None = None) -> str | None:
    """Return the first full date in text as ISO "YYYY-MM-DD", or None when it has none.

    Numeric dates like 11-02-2025 are read both ways; the weekday (0 = Monday), when given,
    decides. Without one, month-first wins because most of our sources are American.
    """
    for match in _FULL_DATE.finditer(text):
        groups = match.groupdict()
        candidates: list[dt.date | None]
        if groups["iy"]:
            candidates = [_date(groups["iy"], groups["im"], groups["id"])]
        elif groups["ny"]:
            candidates = [
                _date(groups["ny"], groups["a"], groups["b"]),
                _date(groups["ny"], groups["b"], groups["a"]),
            ]
        elif groups["mon"]:
            candidates = [_date(groups["my"], _month(groups["mon"]), groups["md"])]
        else:
            candidates = [_date(groups["dy"], _month(groups["dmon"]), groups["dd"])]
        valid = [day for day in candidates if day is not None]
        if weekday is not None:
            valid.sort(key=lambda day: day.weekday() != weekday)  # stable: keeps month-first
        if valid:
            return valid[0].isoformat()
    return None


def _repeated(texts: list[str]) -> set[int]:
    """Lines repeated right after themselves (a heading printed twice): all but the last copy.

    Dropping the earlier copies keeps the surviving heading next to the text under it.
    """
    repeats = compress(count(), map(str.__eq__, texts, texts[1:]))
    return {i for i in repeats if len(_WORD.findall(texts[i])) >= 3}


def _is_date_line(line: str) -> bool:
    """A line holding only dates, weekdays and issue numbers ("Sunday", "11-02-2025 Vol 2132")."""
    has_date = (
        _DIGIT.search(line) is not None and (_FULL_DATE.search(line) or _PARTIAL_DATE.search(line))
    ) or _WEEKDAY_WORD.search(line)
    return bool(has_date) and not _residue(line)


def _residue(text: str) -> str:
    """What is left of text once dates, weekdays and date-line filler are removed."""
    for pattern in (_FULL_DATE, _PARTIAL_DATE, _WEEKDAY_WORD, _FILLER):
        text = pattern.sub(" ", text)
    return text.strip()


def _byline(line: str) -> tuple[str, str] | None:
    """(name, the rest of the line) for "By Jane Doe" or "Jane Doe Sep 9 0 Comments", else None."""
    if len(_WORD.findall(line)) > 12:
        return None
    match = _BY_LINE.fullmatch(line)
    if match:
        return match.group("name"), match.group("rest")
    match = _NAME_THEN_DATE.fullmatch(line)
    # Without "By", only a date or comment count after the name makes the line a byline.
    if match and not _residue(match.group("rest")):
        return match.group("name"), match.group("rest")
    return None


def _is_title_line(line: str) -> bool:
    words = len(_WORD.findall(line))
    return (
        0 < words <= TITLE_MAX_WORDS
        and not _TITLE_END.search(line)
        and not _DATELINE.match(line)
        and not _LIST_OR_ROW.match(line)
    )


def _title_from_lead(lead: str) -> str:
    """A title made from the lead sentence: dateline dropped, cut at a word boundary."""
    dateline = _DATELINE.match(lead)
    words = lead[dateline.end() :].split() if dateline else lead.split()
    kept: list[str] = []
    for word in words:
        kept.append(word)
        if ends_sentence(word):
            return " ".join(kept).rstrip(".")
        if len(kept) == DERIVED_TITLE_WORDS:
            break
    else:
        return " ".join(kept)
    while len(kept) > 1 and kept[-1].lower().strip(",;:—–-") in _DANGLING:
        kept.pop()
    return " ".join(kept).rstrip(",;:—–-") + "…"


def _find_date(texts: list[str]) -> str | None:
    weekday = None
    for text in texts:
        match = _WEEKDAY_WORD.search(text)
        if match:
            # casefold, not lower: re.I matches "ſ" (long s) and "K" (Kelvin) to "s" and "k".
            weekday = _WEEKDAYS.index(match.group().casefold()[:3])
            break
    for text in texts:
        found = parse_date(text, weekday)
        if found:
            return found
    return None


def _find_source(lead: str, skipped: list[str], sources: list[str]) -> str | None:
    """The publisher: a dateline's agency, else a known image-source site, else a Sources line."""
    dateline = _DATELINE.match(lead)
    if dateline and dateline.group("agency"):
        return _publisher(dateline.group("agency")) or dateline.group("agency").strip()
    for line in skipped:
        match = _IMAGE_SOURCE.fullmatch(line)
        if match and (name := _publisher(match.group("name"))):
            return name
    for names in sources:
        outlets = [o.strip(" .") for o in _OUTLET_SPLIT.split(names) if o.strip(" .")]
        if outlets:
            return _publisher(outlets[0]) or outlets[0]
    return None


def _publisher(name: str) -> str | None:
    """The known publisher for a site name or domain ("atlanticcouncil.org"), else None."""
    value = re.sub(r"^\w+://", "", name.strip().lower()).split("/")[0]
    if " " not in value and "." in value:
        labels = [label for label in value.split(".") if label not in _GENERIC_LABELS]
        # Country-code suffixes (".tw", ".uk") are two letters; the site's name is before them.
        while len(labels) > 1 and len(labels[-1]) == 2:
            labels.pop()
        value = labels[-1] if labels else value
    return _publishers().get(re.sub(r"\W|_", "", value))


def _month(name: str) -> int:
    return _MONTHS[name.casefold()[:3]]


def _date(year: str | int, month: str | int, day: str | int) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


@cache
def _boilerplate() -> re.Pattern[str]:
    patterns = [
        line.strip()
        for line in BOILERPLATE_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I)


@cache
def _publishers() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in PUBLISHERS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, name = line.split("\t", 1)
            table[key.strip()] = name.strip()
    return table
