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

    def allows(self, text: str, start: int, end: int) -> bool:
        """Whether the match text[start:end] passes this rule."""
        # Slices, not pos/endpos: \A would only match at the real start of text otherwise.
        if self.not_after is not None and self.not_after.search(
            text[max(0, start - _WINDOW) : start]
        ):
            return False
        if self.not_before is not None and self.not_before.match(text[end : end + _WINDOW]):
            return False
        if self.avoid_context is not None and self.avoid_context.search(text):
            return False
        return self.needs_context is None or self.needs_context.search(text) is not None


@dataclass(frozen=True)
class Alias:
    """What one surface string means: a country code, or None for a blocker phrase."""

    code: str | None
    rule: Rule | None = None


@dataclass(frozen=True)
class Match:
    """One accepted alias occurrence in a text."""

    start: int
    end: int
    alias: str
    code: str


class CountryTagger:
    """Finds the countries a text names or is about, from the alias data files."""

    def __init__(self, aliases_file: Path = ALIASES_FILE, demonyms_file: Path = DEMONYMS_FILE):
        data = json.loads(aliases_file.read_text(encoding="utf-8"))
        self._aliases = build_alias_table(data, read_demonyms(demonyms_file))
        self._pattern = re.compile(r"\b(?:" + trie_regex(self._aliases) + r")(?!\w)")

    @property
    def aliases(self) -> dict[str, Alias]:
        """Every surface string the tagger knows, blockers included."""
        return dict(self._aliases)

    def matches(self, text: str) -> Iterator[Match]:
        """Yield the accepted country mentions in text, left to right."""
        aliases = self._aliases
        for m in self._pattern.finditer(text):
            alias = aliases[m.group()]
            if alias.code is None:
                continue
            if alias.rule is not None and not alias.rule.allows(text, m.start(), m.end()):
                continue
            yield Match(m.start(), m.end(), m.group(), alias.code)

    def tag(self, text: str) -> list[str]:
        """Return alpha-2 codes in order of first mention."""
        aliases = self._aliases
        found: dict[str, None] = {}
        for m in self._pattern.finditer(text):
            alias = aliases[m.group()]
            code = alias.code
            # Blockers tag nothing; a code already found needs no second (rule) check.
            if code is None or code in found:
                continue
            if alias.rule is not None and not alias.rule.allows(text, m.start(), m.end()):
                continue
            found[code] = None
        return list(found)


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


def _rule(spec: dict[str, Any], named: dict[str, str]) -> Rule:
    """Build a Rule from its JSON object."""
    unknown = set(spec) - {"code", "needs_context", "avoid_context", "not_after", "not_before"}
    if unknown:
        raise ValueError(f"unknown rule fields: {sorted(unknown)}")
    return Rule(
        needs_context=_compile_list(spec.get("needs_context", [])),
        avoid_context=_compile_list(spec.get("avoid_context", [])),
        not_after=_compile_patterns(spec.get("not_after", []), named, anchor_end=True),
        not_before=_compile_patterns(spec.get("not_before", []), named, anchor_end=False),
    )


def build_alias_table(data: dict[str, Any], demonyms: dict[str, list[str]]) -> dict[str, Alias]:
    """Merge generated names, curated aliases, capitals, demonyms, blockers and rules."""
    skip = set(data.get("skip_generated", []))
    table: dict[str, Alias] = {}
    secondary: list[tuple[str, str]] = []
    # Generated names first; curated sources below override them.
    for name, code, primary in generated_names():
        if not name or name in skip:
            continue
        if not primary:
            secondary.append((name, code))
        elif name not in table:
            table[name] = Alias(code)
    for name, code in secondary:
        table.setdefault(name, Alias(code))
    for section in (data.get("aliases", {}), data.get("capitals", {}), demonyms):
        for code, names in section.items():
            for name in names:
                table[name] = Alias(code)
    for name in data.get("blockers", []):
        table[name] = Alias(None)
    named = data.get("patterns", {})
    for key, spec in data.get("rules", {}).items():
        rule = _rule(spec, named)
        for name in key.split("|"):
            rule_code = spec.get("code") or (table[name].code if name in table else None)
            if not isinstance(rule_code, str):
                raise ValueError(f"rule {key!r}: {name!r} is not a known alias and has no code")
            table[name] = Alias(rule_code, rule)
    # Variants last so that they inherit rules; an explicit entry always beats a variant.
    for name, alias in list(table.items()):
        for variant in _variants(name):
            table.setdefault(variant, alias)
    for name in table:
        if not name[:1].isalnum():
            raise ValueError(f"alias {name!r} must start with a letter or digit")
    return table


def trie_regex(words: Iterable[str]) -> str:
    """A regex matching any of words, shaped as a character trie so re scans it quickly.

    At a node that is both a word end and a prefix the longer continuation is tried first
    (greedy `?`), so the overall match is the longest alias that also ends on a word boundary.
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str | None:
        branches: list[str] = []
        leaves: list[str] = []
        for ch in sorted(k for k in node if k):
            sub = build(node[ch])
            if sub is None:
                leaves.append(re.escape(ch))
            else:
                branches.append(re.escape(ch) + sub)
        if not branches and not leaves:
            return None
        if leaves:
            branches.append(leaves[0] if len(leaves) == 1 else "[" + "".join(leaves) + "]")
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root) or "(?!)"
