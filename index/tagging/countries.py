"""Country tagging: the ISO 3166-1 alpha-2 codes of the countries a text names or is about.

The alias table is built once (see `country_tagger()` in the package) from pycountry and Babel
names plus the curated data files next to this module; every rule lives in those files and this
module only implements the mechanism: one trie-shaped regex, longest match, word boundaries, and
per-alias context / neighbour checks.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.tagging import places
from index.tagging.tries import trie_regex

DATA_DIR = Path(__file__).parent
ALIASES_FILE = DATA_DIR / "countries.json"
DEMONYMS_FILE = DATA_DIR / "demonyms.tsv"

# How far before/after an alias the not_after/not_before patterns look; enough for a name or a
# "City, State" pair, small enough that slicing stays cheap.
_WINDOW = 60


@dataclass(frozen=True)
class Rule:
    """Conditions an alias match must meet to count (all optional)."""

    needs_context: re.Pattern[str] | None = None
    avoid_context: re.Pattern[str] | None = None
    not_after: re.Pattern[str] | None = None
    not_before: re.Pattern[str] | None = None
    only_after: re.Pattern[str] | None = None
    only_before: re.Pattern[str] | None = None

    @property
    def contextual(self) -> bool:
        """Whether the rule looks at the rest of the text (evidence says "context rule")."""
        return self.needs_context is not None or self.avoid_context is not None

    def allows(self, text: str, start: int, end: int) -> bool:
        """Whether the match text[start:end] passes this rule."""
        # Slices, not pos/endpos: \A would only match at the real start of text otherwise.
        before = text[max(0, start - _WINDOW) : start]
        if self.not_after is not None and self.not_after.search(before):
            return False
        if self.only_after is not None and not self.only_after.search(before):
            return False
        after = text[end : end + _WINDOW]
        if self.not_before is not None and self.not_before.match(after):
            return False
        if self.only_before is not None and not self.only_before.match(after):
            return False
        if self.avoid_context is not None and self.avoid_context.search(text):
            return False
        return self.needs_context is None or self.needs_context.search(text) is not None


# Evidence labels: how an alias of each kind turns into a country.
RULE_LABELS = {
    "alias": "alias",
    "demonym": "demonym",
    "capital": "capital",
    places.CITY: "city → country",
    places.STATE: "state → country",
    places.DIVISION: "division → country",
    places.ABBREVIATION: "state abbreviation → country",
}

# Words in capitals: headlines, datelines and shouted text are matched in title case.
_TWO_CAPS = re.compile(r"[A-Z][A-Z'’]*[A-Z]")
# The lookbehind (nothing word-like before the word) comes after the first capital, so that re
# skips to the next capital in C instead of trying the lookbehind at every position.
_CAPS_WORD = re.compile(r"[A-Z](?<![\w$][A-Z])[A-Z'’]*[A-Z](?![\w$])")
# What may separate two capitalised words of one run (no lower-case letter, no line break).
_CAPS_GAP = re.compile(r"[ \t,.'’&/:;()<>-]{1,4}")
# After a place at the start of a line: "(Agency)", ", State", ", Month Day", then a dash.
_DATELINE_TAIL = re.compile(
    r"\s*(?:,\s*[^\n,()]{1,25}?){0,2}\s*(?:\([^)\n]{2,60}\)\s*)?(?:,\s*[^\n,()]{1,25}?)?\s*[—–-]+(?:\s|$)"
)
_COMMA = re.compile(r",\s*")


@dataclass(frozen=True)
class Reading:
    """An alternative country for an ambiguous alias, taken when its rule holds."""

    code: str
    rule: Rule


@dataclass(frozen=True)
class Alias:
    """What one surface string means: a country code, or None for a blocker phrase."""

    code: str | None
    rule: Rule | None = None
    kind: str = "alias"
    readings: tuple[Reading, ...] = ()
    # Common words and given names ("Nice", "Victoria"): only in a dateline or as "X, Region".
    context_only: bool = False

    def resolve(self, text: str, start: int, end: int) -> tuple[str | None, bool]:
        """The country this occurrence means (None: rejected) and whether context decided it."""
        for reading in self.readings:
            if reading.rule.allows(text, start, end):
                return reading.code, True
        if self.rule is not None and not self.rule.allows(text, start, end):
            return None, False
        return self.code, bool(self.readings) or (self.rule is not None and self.rule.contextual)


@dataclass(frozen=True)
class Match:
    """One accepted alias occurrence in a text."""

    start: int
    end: int
    alias: str
    code: str
    kind: str = "alias"
    rule: str = "alias"
    # Matched in a run of capitals, read in title case ("SAUDI" as "Saudi").
    caps: bool = False


class CountryTagger:
    """Finds the countries a text names or is about, from the alias and place data files."""

    def __init__(
        self,
        aliases_file: Path = ALIASES_FILE,
        demonyms_file: Path = DEMONYMS_FILE,
        places_file: Path = places.PLACES_FILE,
    ):
        data = json.loads(aliases_file.read_text(encoding="utf-8"))
        place_data = places.load_places_data(places_file)
        self._aliases = build_alias_table(data, read_demonyms(demonyms_file), place_data)
        # Divisions that only count in a dateline are looked up there by name (`lookup`):
        # keeping them out of the regex keeps it small, which is what load time is made of.
        scanned = [
            name
            for name, alias in self._aliases.items()
            if not (alias.kind == places.DIVISION and alias.context_only)
        ]
        # The leading class lets the regex engine skip positions no alias can start at
        # (a plain \b gives it nothing to skip with): about 2.5x faster scans.
        first = "".join(sorted({re.escape(name[0]) for name in scanned}))
        self._pattern = re.compile(f"(?=[{first}])\\b(?:{trie_regex(scanned)})(?!\\w)")
        # Acronyms that are aliases as written ("US", "UK") stay in capitals when a run is
        # title-cased; postal codes do not ("IN", "OR", "ME" are words in a headline).
        self._keep_caps = frozenset(
            name
            for name, alias in self._aliases.items()
            if name.isupper() and alias.kind != places.ABBREVIATION
        )
        self._caps_confirm = frozenset(data.get("caps_need_confirmation", []))

    @property
    def aliases(self) -> dict[str, Alias]:
        """Every surface string the tagger knows, blockers included."""
        return dict(self._aliases)

    def lookup(self, name: str) -> Alias | None:
        """The alias a whole string is (title case tried for capitals), or None."""
        alias = self._aliases.get(name)
        if alias is None and name.isupper():
            alias = self._aliases.get(self.recase(name) or name)
        return alias

    def recase(self, text: str) -> str | None:
        """text with runs of capitalised words in title case (same length); None when none."""
        # Most passages have no two capitals in a row: one cheap scan settles them.
        if _TWO_CAPS.search(text) is None:
            return None
        words = list(_CAPS_WORD.finditer(text))
        if not words:
            return None
        keep = self._keep_caps
        out: list[str] = []
        last = 0
        changed = False
        for i, word in enumerate(words):
            start, end = word.span()
            # A lone acronym in running prose ("NATO", "EC") is no headline: leave it.
            in_run = (
                start == 0
                or text[start - 1] == "\n"
                or (i > 0 and _CAPS_GAP.fullmatch(text, words[i - 1].end(), start) is not None)
                or (
                    i + 1 < len(words)
                    and _CAPS_GAP.fullmatch(text, end, words[i + 1].start()) is not None
                )
            )
            if not in_run or word.group() in keep:
                continue
            out.append(text[last:start])
            out.append(word.group().capitalize())
            last = end
            changed = True
        if not changed:
            return None
        out.append(text[last:])
        return "".join(out)

    def matches(self, text: str) -> Iterator[Match]:
        """Yield the accepted country mentions in text, left to right."""
        recased = self.recase(text)
        source = text if recased is None else recased
        raw: list[tuple[int, int, str, Alias]] = []
        aliases = self._aliases
        for m in self._pattern.finditer(source):
            raw.append((m.start(), m.end(), m.group(), aliases[m.group()]))
        confirmed: set[str] = set()
        pending: list[Match] = []
        for i, (start, end, name, alias) in enumerate(raw):
            if alias.code is None:
                continue
            caps = recased is not None and text[start:end] != name
            # Rules are written for ordinary case: a match as written is checked against the
            # text as written, a title-cased one against the title-cased text.
            context = source if caps else text
            code, by_context = alias.resolve(context, start, end)
            rule = "context rule" if by_context else RULE_LABELS.get(alias.kind, "alias")
            region = self._qualifier(source, raw, i)
            if region is not None and alias.kind in (places.CITY, "capital"):
                # "Paris, Texas", "Cambridge, Mass.", "Córdoba, Spain": the region decides.
                code, rule = region, "place, region"
            elif alias.context_only and not _at_dateline(source, start, end):
                continue
            if code is None:
                continue
            match = Match(start, end, text[start:end], code, alias.kind, rule, caps)
            if caps and name in self._caps_confirm:
                # "CHAD", "TURKEY" in a headline: only when the text names the country too.
                pending.append(match)
                continue
            if not caps:
                confirmed.add(code)
            yield match
        for match in pending:
            if match.code in confirmed:
                yield match

    def _qualifier(self, text: str, raw: list[tuple[int, int, str, Alias]], i: int) -> str | None:
        """The country of a region right after raw[i] and a comma ("Paris, Texas"), if any."""
        if i + 1 >= len(raw):
            return None
        _, end, _, _ = raw[i]
        nstart, nend, _, nxt = raw[i + 1]
        if nxt.code is None or nxt.kind not in _QUALIFIER_KINDS:
            return None
        if _COMMA.fullmatch(text, end, nstart) is None:
            return None
        code, _ = nxt.resolve(text, nstart, nend)
        return code

    def tag(self, text: str) -> list[str]:
        """Return alpha-2 codes in order of first mention."""
        found: dict[str, None] = {}
        for match in self.matches(text):
            found.setdefault(match.code, None)
        return list(found)


# Kinds that can qualify a city after a comma: regions and countries, never another city.
_QUALIFIER_KINDS = frozenset({"alias", places.STATE, places.DIVISION, places.ABBREVIATION})


def _at_dateline(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] opens a line as a dateline's place ("SPLIT, Croatia -")."""
    if start and text[start - 1] != "\n":
        return False
    return _DATELINE_TAIL.match(text, end) is not None


def read_demonyms(path: Path) -> dict[str, list[str]]:
    """Parse demonyms.tsv: CODE<TAB>form|form, where "X(s)" means "X" and "Xs"."""
    table: dict[str, list[str]] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        code, sep, forms = line.partition("\t")
        if not sep or len(code) != 2:
            raise ValueError(f"{path}:{lineno}: expected CODE<TAB>forms, got {raw!r}")
        for form in forms.split("|"):
            form = form.strip()
            if form.endswith("(s)"):
                table.setdefault(code, []).extend([form[:-3], form[:-3] + "s"])
            elif form:
                table.setdefault(code, []).append(form)
    return table


def generated_names() -> Iterator[tuple[str, str, bool]]:
    """Yield (name, code, primary) from pycountry and Babel's English and Spanish territories.

    Secondary names are the parenthesised parts ("Burma" in "Myanmar (Burma)"): they are only
    used when no other country claims them (Babel's "Hong Kong SAR (China)" must not make "China"
    mean HK).
    """
    # Imported here, not at module level: building the table is the only thing that needs them.
    import pycountry
    from babel import Locale

    codes = {c.alpha_2 for c in pycountry.countries}
    raw: list[tuple[str, str, str]] = []
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                raw.append((value, country.alpha_2, "en"))
    for lang in ("en", "es"):
        for code, name in Locale(lang).territories.items():
            # Babel also names regions ("419", "EU", "QO"): keep ISO 3166-1 countries only.
            if code in codes:
                raw.append((name, code, lang))
    for name, code, lang in raw:
        # pycountry's inverted names ("Korea, Republic of") never occur in running text.
        if "," in name:
            continue
        conj = " and " if lang == "en" else " y "
        base = re.sub(r"\s*\([^)]*\)", "", name).replace(" & ", conj).strip()
        yield base, code, True
        for inner in re.findall(r"\(([^)]*)\)", name):
            yield inner.strip(), code, False


def _variants(name: str) -> set[str]:
    """Spelling variants of a name: St./Saint, curly/straight apostrophes, accents stripped."""
    out = {name}
    if name.startswith("St. "):
        out.add("Saint " + name[4:])
    elif name.startswith("Saint "):
        out.add("St. " + name[6:])
    for v in list(out):
        out.add(v.replace("’", "'"))
        out.add(v.replace("'", "’"))
    for v in list(out):
        stripped = "".join(
            ch for ch in unicodedata.normalize("NFKD", v) if not unicodedata.combining(ch)
        )
        out.add(unicodedata.normalize("NFC", stripped))
    return out


def _compile_list(words: Iterable[str]) -> re.Pattern[str] | None:
    """A word-bounded, case-sensitive alternation of literal strings (None when empty)."""
    words = sorted(set(words), key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")


def _compile_patterns(
    patterns: list[str], named: dict[str, str], anchor_end: bool
) -> re.Pattern[str] | None:
    """Join not_after/not_before regexes ("@name" = a named pattern) into one pattern."""
    if not patterns:
        return None
    parts = [named[p[1:]] if p.startswith("@") else p for p in patterns]
    # not_after patterns describe the end of the preceding text: anchor them there.
    body = "|".join(f"(?:{p})" for p in parts)
    return re.compile(f"(?:{body})\\Z" if anchor_end else body)


_RULE_FIELDS = {
    "code",
    "needs_context",
    "avoid_context",
    "not_after",
    "not_before",
    "only_after",
    "only_before",
}


def _rule(spec: dict[str, Any], named: dict[str, str], extra: Iterable[str] = ()) -> Rule:
    """Build a Rule from its JSON object."""
    unknown = set(spec) - _RULE_FIELDS - set(extra)
    if unknown:
        raise ValueError(f"unknown rule fields: {sorted(unknown)}")
    return Rule(
        needs_context=_compile_list(spec.get("needs_context", [])),
        avoid_context=_compile_list(spec.get("avoid_context", [])),
        not_after=_compile_patterns(spec.get("not_after", []), named, anchor_end=True),
        not_before=_compile_patterns(spec.get("not_before", []), named, anchor_end=False),
        only_after=_compile_patterns(spec.get("only_after", []), named, anchor_end=True),
        only_before=_compile_patterns(spec.get("only_before", []), named, anchor_end=False),
    )


def build_alias_table(
    data: dict[str, Any],
    demonyms: dict[str, list[str]],
    place_data: dict[str, Any] | None = None,
) -> dict[str, Alias]:
    """Merge generated names, curated aliases, capitals, demonyms, blockers, rules and places."""
    skip = set(data.get("skip_generated", []))
    table: dict[str, Alias] = {}
    secondary: list[tuple[str, str]] = []
    # Generated names first; curated sources below override them.
    generated = places.json_cached(
        "generated-names", lambda: [[n, c, p] for n, c, p in generated_names()]
    )
    for name, code, primary in generated:
        if not name or name in skip:
            continue
        if not primary:
            secondary.append((name, code))
        elif name not in table:
            table[name] = Alias(code)
    for name, code in secondary:
        table.setdefault(name, Alias(code))
    for section, kind in (
        (data.get("aliases", {}), "alias"),
        (data.get("capitals", {}), "capital"),
        (demonyms, "demonym"),
    ):
        for code, names in section.items():
            for name in names:
                table[name] = Alias(code, kind=kind)
    for name in data.get("blockers", []):
        table[name] = Alias(None)
    named = data.get("patterns", {})
    for key, spec in data.get("rules", {}).items():
        rule = _rule(spec, named)
        for name in key.split("|"):
            rule_code = spec.get("code") or (table[name].code if name in table else None)
            if not isinstance(rule_code, str):
                raise ValueError(f"rule {key!r}: {name!r} is not a known alias and has no code")
            kind = table[name].kind if name in table else "alias"
            table[name] = Alias(rule_code, rule, kind)
    if place_data is not None:
        _add_places(table, place_data, named)
    # Variants last so that they inherit rules; an explicit entry always beats a variant.
    for name, alias in list(table.items()):
        for variant in _variants(name):
            table.setdefault(variant, alias)
    for name in table:
        if not name[:1].isalnum():
            raise ValueError(f"alias {name!r} must start with a letter or digit")
    return table


def _add_places(table: dict[str, Alias], data: dict[str, Any], named: dict[str, str]) -> None:
    """Add states, divisions, abbreviations and cities; country names and curated aliases win."""
    # Folded, so that "Salé" and its variant "Sale" are both common words.
    common = {places.fold(word) for word in data["common_words"]}
    after = Rule(only_after=re.compile(f"(?:{data['abbreviation_after']})"))
    # States before divisions before cities: "New York" is the state, "Victoria" the AU state.
    running = set(data.get("division_running_text", []))
    # "Jordan Henderson", "Lincoln Continental": a city right after a capitalised word is
    # usually part of a name.
    city_rule = Rule(not_after=re.compile(f"(?:{data['city_not_after']})\\Z"))
    for place in places.gazetteer_places(data):
        flag = places.fold(place.name) in common
        if place.kind == places.ABBREVIATION:
            # Postal codes and "Pa.", "Ind.", "Miss." only qualify a place: "Darien, Conn.".
            table.setdefault(place.name, Alias(place.code, after, place.kind))
        elif place.kind == places.STATE:
            table.setdefault(place.name, Alias(place.code, None, place.kind))
        elif place.kind == places.DIVISION:
            context_only = place.code not in running or flag
            table.setdefault(place.name, Alias(place.code, None, place.kind, (), context_only))
        else:
            name = re.sub(r"\s*\([^)]*\)", "", place.name)
            if name and name[:1].isupper():
                flag = places.fold(name) in common
                table.setdefault(name, Alias(place.code, city_rule, place.kind, (), flag))
    for key, spec in data.get("readings", {}).items():
        default = spec["default"]
        kind = spec.get("kind", places.CITY)
        readings = tuple(Reading(r["code"], _rule(r, named)) for r in spec.get("readings", []))
        base = {k: v for k, v in spec.items() if k not in ("default", "kind", "readings")}
        rule = _rule(base, named) if base else None
        for name in key.split("|"):
            table[name] = Alias(default, rule, kind, readings, places.fold(name) in common)
