"""Document-level country analysis: datelines, salience and the subject countries.

`countries` is every country a text concerns; `subject_countries` are the ones it is *about*,
strongest first, scored the way an editor reads a story: the headline and the dateline count
most, then the lead, then how often a country recurs. The weights live in `subjects.json`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from index.tagging import places
from index.tagging.countries import CountryTagger, Match

WEIGHTS_FILE = Path(__file__).parent / "subjects.json"

# Any case: wire copy has "March", "MARCH" and typos such as "FEb", "APril".
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-zA-Z]*\.?"
# "DARIEN, Conn., March 13 -", "NEW YORK, June 1 -", "TAIPEI (Taiwan News) —", "Tokyo (AP) -":
# a place of one to three comma-separated parts, an optional agency, an optional date, a dash.
_DATELINE = re.compile(
    r"^[ \t]*(?P<place>[^\W\d_][\w.'’&-]*(?:[ \t]+[\w.'’&-]+){0,3}"
    r"(?:,[ \t]*[^\W\d_][\w.'’&-]*(?:[ \t]+[\w.'’&-]+){0,2}){0,2}?)"
    r"[ \t]*(?:\((?P<agency>[^)\n]{2,60})\))?"
    rf"[ \t]*(?:,[ \t]*(?P<date>(?:{_MONTH})(?:[ \t]+\d{{1,2}})?))?"
    r"[ \t]*[—–-]+(?=\s|$)",
    re.M,
)
# Datelines open a story: look no further than this into the text.
_DATELINE_REACH = 600
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_LINE = re.compile(r"\S[^\n]*")
_LETTER = re.compile(r"[^\W\d_]")
_DASH = re.compile(r"[—–-](?=\s|$)", re.M)


@dataclass(frozen=True)
class Dateline:
    """The dateline of a story: where the place part is and which country it resolves to."""

    start: int
    end: int
    place: str
    code: str
    how: str
    agency: str | None = None


@dataclass
class Analysis:
    """What a document says about countries, with the evidence for each."""

    countries: list[str]
    subject_countries: list[str]
    scores: dict[str, float]
    matches: list[Match]
    dateline: Dateline | None
    headline: tuple[int, int] | None
    lead: tuple[int, int] | None
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def load_weights(path: Path = WEIGHTS_FILE) -> dict[str, Any]:
    """The salience weights, every one a number (loud on a missing or malformed entry)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    weights = {k: v for k, v in data.items() if not k.startswith("_")}
    required = {
        "headline",
        "dateline",
        "lead",
        "mention",
        "relative_threshold",
        "absolute_threshold",
        "lead_chars",
        "max_subjects",
        "actor",
        "actor_words",
        "currency_words",
    }
    missing = required - set(weights)
    if missing:
        raise ValueError(f"{path}: missing weights {sorted(missing)}")
    for key, value in weights.items():
        if key in ("kind", "actor_words", "currency_words") and isinstance(value, dict | list):
            continue
        if not isinstance(value, int | float):
            raise ValueError(f"{path}: weight {key!r} must be a number")
    return weights


def find_dateline(text: str, tagger: CountryTagger) -> Dateline | None:
    """The dateline near the top of text whose place resolves to a country, if any."""
    reach = min(len(text), _DATELINE_REACH)
    # No dash before whitespace, no dateline: most passages are settled by this one scan.
    if _DASH.search(text, 0, reach) is None:
        return None
    for m in _DATELINE.finditer(text, 0, reach):
        place = m.group("place")
        # A place in ordinary case needs an agency or a date to read as a dateline, not a
        # sentence with a dash ("Costa Rica - Taiwan ties").
        if not place.isupper() and not (m.group("agency") or m.group("date")):
            continue
        if len(place.split()) > 6:
            continue
        resolved = resolve_place(place, tagger)
        if resolved is None:
            continue
        code, how = resolved
        start = m.start("place")
        return Dateline(start, start + len(place), place, code, how, m.group("agency"))
    return None


def resolve_place(place: str, tagger: CountryTagger) -> tuple[str, str] | None:
    """The country of a dateline place ("DARIEN, Conn." → US) and how it was found."""
    parts = [p.strip() for p in place.split(",") if p.strip()]
    # The most specific qualifier is last ("Cambridge, Mass."): try it first, then the city.
    for part in reversed(parts):
        # "BOSTON, Mass, April 3 -": a wire abbreviation that lost its full stop.
        alias = tagger.lookup(part) or tagger.lookup(part + ".")
        if alias is not None and alias.code is not None:
            # An abbreviation's rule wants "Place, " before it: here the dateline gives that.
            if alias.kind == places.ABBREVIATION:
                return alias.code, alias.kind
            code, _ = alias.resolve(part, 0, len(part))
            if code is not None:
                return code, places.CITY if alias.kind == places.CITY else alias.kind
    code = places.city_lookup().get(places.fold(parts[0])) if parts else None
    return (code, places.CITY) if code else None


def _headline(text: str, title: str | None = None) -> tuple[int, int] | None:
    """Where the headline is: the given title's first occurrence, else the first line that
    reads as one (three to 25 words, no closing full stop) among the first few lines."""
    if title:
        at = text.find(title, 0, _DATELINE_REACH + len(title))
        if at >= 0:
            return at, at + len(title)
    for m in _LINE.finditer(text, 0, min(len(text), _DATELINE_REACH)):
        line = m.group().rstrip()
        words = len(line.split())
        # "Sunday", "11-02-2025 Vol 2132": header furniture, not the headline.
        if words < 3 or not _LETTER.search(line):
            continue
        if _DASH.search(line) is not None and _DATELINE.match(line):
            continue
        if words > 25 or line.endswith((".", ",", ";", ":")):
            return None
        return m.start(), m.start() + len(line)
    return None


def _lead(text: str, after: int, chars: int) -> tuple[int, int]:
    """The lead: from `after` to the end of the first sentence ending past `chars` characters."""
    start = after
    while start < len(text) and text[start].isspace():
        start += 1
    end = min(len(text), start + chars)
    m = _SENTENCE_END.search(text, end)
    if m is not None and m.start() - end < 200:
        end = m.start() + 1
    return start, end


def analyze(text: str, title: str | None = None, tagger: CountryTagger | None = None) -> Analysis:
    """Countries, subject countries (strongest first) and their evidence for a whole document.

    title, when the caller knows it (the indexer's metadata), locates the headline; otherwise
    the first line that reads as a headline is taken.
    """
    from index.tagging import country_tagger

    tagger = tagger or country_tagger()
    weights = _weights()
    kind_weights: dict[str, float] = weights.get("kind", {})
    matches = list(tagger.matches(text))
    headline = _headline(text, title)
    actor = _actor_pattern()
    actor_weight = float(weights["actor"])
    dateline = find_dateline(text, tagger)
    body_from = headline[1] if headline else 0
    if dateline is not None and dateline.end > body_from:
        body_from = dateline.end
    lead = _lead(text, body_from, int(weights["lead_chars"]))
    scores: dict[str, float] = {}
    counts: dict[str, float] = {}
    in_headline: set[str] = set()
    in_lead: set[str] = set()
    for m in matches:
        # "US Secretary of State", "Chinese officials": the country acts rather than being the
        # place the story is about; "Australian dlr": it names a currency. Either weighs less.
        if actor.match(text, m.end) is not None:
            counts[m.code] = counts.get(m.code, 0.0) + actor_weight
            continue
        counts[m.code] = counts.get(m.code, 0.0) + kind_weights.get(m.kind, 1.0)
        if headline and headline[0] <= m.start < headline[1]:
            in_headline.add(m.code)
        elif lead[0] <= m.start < lead[1]:
            in_lead.add(m.code)
    for code, count in counts.items():
        # Repetition counts with diminishing returns: the tenth mention adds little.
        scores[code] = weights["mention"] * math.log1p(count)
    for code in in_headline:
        scores[code] += weights["headline"]
    for code in in_lead:
        scores[code] += weights["lead"]
    countries = list(dict.fromkeys(m.code for m in matches))
    if dateline is not None:
        scores[dateline.code] = scores.get(dateline.code, 0.0) + weights["dateline"]
        if dateline.code not in countries:
            countries.insert(0, dateline.code)
    ranked = sorted(scores, key=lambda c: (-scores[c], countries.index(c)))
    subjects: list[str] = []
    if ranked:
        top = scores[ranked[0]]
        floor = max(weights["absolute_threshold"], weights["relative_threshold"] * top)
        subjects = [c for c in ranked if scores[c] >= floor][: int(weights["max_subjects"])]
    return Analysis(
        countries=countries,
        subject_countries=subjects,
        scores={c: round(scores[c], 3) for c in ranked},
        matches=matches,
        dateline=dateline,
        headline=headline,
        lead=lead,
    )


def subject_countries(text: str, title: str | None = None) -> list[str]:
    """The countries a document is about, strongest first."""
    return analyze(text, title).subject_countries


@lru_cache(maxsize=1)
def _actor_pattern() -> re.Pattern[str]:
    """Words after a country that make it an actor: "US Secretary", "Chinese officials"."""
    weights = _weights()
    words = sorted([*weights["actor_words"], *weights["currency_words"]], key=len, reverse=True)
    return re.compile(r"[\s-]+(?:" + "|".join(map(re.escape, words)) + r")\b", re.I)


@lru_cache(maxsize=1)
def _weights() -> dict[str, Any]:
    """The salience weights, read once per process."""
    return load_weights()
