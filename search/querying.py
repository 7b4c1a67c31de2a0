"""Turn what an analyst types into a Whoosh query, never failing on malformed input."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.qparser import (
    AndGroup,
    FieldAliasPlugin,
    MultifieldParser,
    OrGroup,
    PlusMinusPlugin,
)

from search.errors import InvalidRequest
from search.facet_registry import FacetRegistry, default_registry

# The indexed text of every passage starts with its document title, so one field serves both.
SEARCH_FIELDS = ("text",)
# Readings of query texts kept per QueryReader (a parsed Whoosh query and its words each).
PARSE_CACHE_SIZE = 512
# Query-syntax field names → schema fields, besides each facet's own alias (facet_registry.py).
TEXT_FIELD_ALIASES = {"title": "title", "text": "text"}
# How many of the query's content words a passage must contain, as Elasticsearch's
# minimum_should_match or edismax's mm: every word of a short keyword query; most words of a
# longer one; half of a pasted sentence, whose filler words ("during", "visit") must not decide.
# Measured on SciFact's training claims (docs/relevance.md): see GRADED_RULE below.
MAX_ALL_REQUIRED = 3
# Up to this many words, AT_LEAST_SHARE of them (rounded down) must match ...
MAX_MOSTLY_REQUIRED = 8
AT_LEAST_SHARE = 0.75
# ... and beyond it, this share ...
LONG_QUERY_SHARE = 0.5
# ... but never more than this many words (None: no cap).
MAX_REQUIRED: int | None = None
# Sentences and questions (function words present) match any content word past three.
SENTENCES_MATCH_ANY = True
OR_COORDINATION = 0.9
MATCH_MODES = ("auto", "all", "any")

# A wildcard must start with this many literal characters: a leading "*" or "?" makes Whoosh walk
# (and OR together) every word of the field, tens of seconds on 20k passages (issue 17).
MIN_WILDCARD_PREFIX = 1
WILDCARD_CHARS = frozenset("*?[")

_FIELD_RE = re.compile(r"(?<![\w\"])([A-Za-z_]\w*):(?=\S)")
_OPERATOR_RE = re.compile(r"\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
_SYNTAX_RE = re.compile(r"[\"()*?+\-]|\b(AND|OR|NOT)\b|\w+:")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_QUESTION_MARK_RE = re.compile(r"(?<=\w)\?+(?=\s|$)")
_JOINING_HYPHEN_RE = re.compile(r"(?<=\w)-(?=\w)")


@dataclass(frozen=True)
class MatchRule:
    """How many of a query's words a passage needs: all, at least `required`, or any one."""

    mode: str  # "all" | "at_least" | "any"
    required: int
    of: int


def match_rule(words: int, match: str = "auto", sentence: bool = False) -> MatchRule:
    """The graded minimum-should-match for a query of `words` distinct content words.

    A sentence or question (it has function words: "the", "what", "is") past MAX_ALL_REQUIRED
    content words matches any of them: a pasted line shares only some words with the passages
    that answer it, and requiring more lost a fifth of SciFact's relevant abstracts
    (docs/relevance.md). Keyword queries get the graded rule.
    """
    if words <= 1 or match == "all":
        return MatchRule("all", words, words)
    if match == "any" or (sentence and SENTENCES_MATCH_ANY and words > MAX_ALL_REQUIRED):
        return MatchRule("any", 1, words)
    if words <= MAX_ALL_REQUIRED:
        required = words
    elif words <= MAX_MOSTLY_REQUIRED:
        required = int(words * AT_LEAST_SHARE)
    else:
        required = int(words * LONG_QUERY_SHARE)
    if MAX_REQUIRED is not None and words > MAX_ALL_REQUIRED:
        required = min(required, MAX_REQUIRED)
    if required >= words:
        return MatchRule("all", words, words)
    if required <= 1:
        return MatchRule("any", 1, words)
    return MatchRule("at_least", required, words)


@dataclass
class ParsedQuery:
    """The Whoosh query to run plus how the text was read, for the response and suggestions."""

    text: str
    query: wq.Query
    fallback: bool = False
    message: str | None = None
    plain: bool = True
    words: tuple[str, ...] = ()
    # The words' minimum-should-match; None when written operators decide (a OR b, +a -b).
    rule: MatchRule | None = None
    # Stems of common words ("what", "during"): they score but never count toward `required`.
    optional: frozenset[str] = frozenset()

    @property
    def required(self) -> int:
        """How many counted clauses of an implicit OR a passage must match (1: any).

        An AND needs no count; an OR with common words counts its other clauses, all of them
        when the rule says "all".
        """
        if self.rule is None:
            return 1
        if self.optional or self.rule.mode == "at_least":
            return self.rule.required
        return 1

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to match (browse by filters only)."""
        return self.query is wq.NullQuery or isinstance(self.query, type(wq.NullQuery))


def _problem(text: str, aliases: dict[str, str]) -> str | None:
    """Why text is not well-formed query syntax, or None if it is."""
    if text.count('"') % 2:
        return "unbalanced quote"
    depth = 0
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if depth < 0:
            return "unbalanced parenthesis"
    if depth:
        return "unbalanced parenthesis"
    for match in _FIELD_RE.finditer(text):
        if match.group(1).lower() not in aliases:
            return f"unknown field '{match.group(1)}'"
    tokens = text.split()
    if tokens and (_OPERATOR_RE.fullmatch(tokens[0]) or _OPERATOR_RE.fullmatch(tokens[-1])):
        return "operator without an operand"
    for a, b in zip(tokens, tokens[1:], strict=False):
        if _OPERATOR_RE.fullmatch(a) and _OPERATOR_RE.fullmatch(b):
            return "two operators in a row"
    if any(t in {"-", "+"} for t in tokens):
        return "operator without an operand"
    return None


class QueryReader:
    """Parses query text against a schema; one instance serves every request."""

    def __init__(self, schema: Schema, facets: FacetRegistry | None = None) -> None:
        self.schema = schema
        self.facets = facets or default_registry()
        self.field_aliases = {**TEXT_FIELD_ALIASES, **self.facets.query_aliases()}
        # Index field → how a typed value becomes an indexed one ("ecuador" → "EC").
        self._resolvers = {
            f.query_field or f.field: f.resolve_query_value
            for f in self.facets
            if f.query_alias and f.resolve_query_value
        }
        aliases: dict[str, list[str]] = {}
        for alias, fieldname in self.field_aliases.items():
            if alias != fieldname:
                aliases.setdefault(fieldname, []).append(alias)
        self._parsers = {}
        for name, group in (("and", AndGroup), ("or", OrGroup.factory(OR_COORDINATION))):
            parser = MultifieldParser(list(SEARCH_FIELDS), schema, group=group)
            parser.add_plugin(PlusMinusPlugin())
            parser.add_plugin(FieldAliasPlugin(aliases))
            self._parsers[name] = parser
        self.analyzer = schema["text"].analyzer
        self._common: frozenset[str] | None = None
        # Parsing is a pure function of the text and the match mode, and Whoosh's parser costs
        # about a millisecond: the last queries' readings are kept (paging, facet clicks and
        # sorting repeat a query). Errors (a refused wildcard) are not kept.
        self._parsed = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(self._parse)

    def content_words(self, text: str) -> list[str]:
        """The words of text that survive stop-word removal, as typed (lowercased)."""
        return [t.text for t in self.analyzer(text, mode="query", removestops=True, no_morph=True)]

    def parse(self, text: str, match: str = "auto") -> ParsedQuery:
        """Read text as query syntax; on malformed syntax fall back to its plain words and say so.

        `match` chooses how many words are required: "auto" (the graded rule), "all" or "any".
        """
        # A copy: a caller may change its reading's attributes, never the kept one's.
        return dataclasses.replace(self._parsed(text, match))

    def _parse(self, text: str, match: str) -> ParsedQuery:
        text = (text or "").strip()
        if not text:
            return ParsedQuery(text, wq.NullQuery)
        # A "?" ending a word is a question mark ("what drives inflation?"), not a wildcard.
        syntax = _QUESTION_MARK_RE.sub("", text)
        # A hyphen inside a word joins ("damage-induced", "COVID-19"); it is not a NOT.
        syntax = _JOINING_HYPHEN_RE.sub(" ", syntax)
        problem = _problem(syntax, self.field_aliases)
        plain = _SYNTAX_RE.search(syntax) is None
        if problem:
            return self._fallback(text, problem, match)
        if plain:
            return self._parse_plain(syntax, match)
        words = self.content_words(_strip_fields(syntax))
        # Written boolean operators ask for boolean logic: "a b NOT c" must not become "a OR b
        # OR NOT c", so such queries keep AND between their words whatever their length.
        operators = _OPERATOR_RE.search(syntax) is not None
        sentence = is_sentence(syntax)
        rule = None if operators else match_rule(len(dict.fromkeys(words)), match, sentence)
        try:
            group = "and" if rule is None else self._group(words, rule)
            query = self._parsers[group].parse(syntax)
        except (NotImplementedError, ValueError, TypeError):
            # Whoosh's parser raises on some operator placements, e.g. "alpha (+)- trait".
            return self._fallback(text, "unreadable operators", match)
        query = self._resolve_values(query)
        refuse_leading_wildcards(query)
        if query is wq.NullQuery and words and not _FIELD_RE.search(syntax):
            # Words glued to operators ("CD4+ T cells") can parse to nothing: search the words.
            return self._fallback(text, "unreadable operators", match)
        optional: frozenset[str] = frozenset()
        if rule is not None:
            rule, optional = self._clause_rule(query, rule, match, sentence)
        return ParsedQuery(
            text, query, plain=False, words=tuple(words), rule=rule, optional=optional
        )

    def _resolve_values(self, query: wq.Query) -> wq.Query:
        """Map typed facet values to indexed ones ("country:ecuador" → countries:EC)."""
        resolvers = self._resolvers

        def fix(node: wq.Query) -> wq.Query:
            fieldname = getattr(node, "fieldname", None)
            resolve = resolvers.get(fieldname) if fieldname else None
            if resolve is not None and fieldname is not None:
                if isinstance(node, wq.Term):
                    value = resolve(str(node.text))
                    return wq.Term(fieldname, value) if value else wq.NullQuery
                if isinstance(node, wq.Phrase):
                    value = resolve(" ".join(str(w) for w in node.words))
                    return wq.Term(fieldname, value) if value else wq.NullQuery
                if isinstance(node, (wq.Prefix, wq.Wildcard)):
                    return wq.NullQuery
            return node.apply(fix)

        return fix(query).normalize()

    def _fallback(self, text: str, problem: str, match: str = "auto") -> ParsedQuery:
        parsed = self._parse_plain(" ".join(_WORD_RE.findall(text)), match)
        parsed.text = text
        parsed.fallback = True
        parsed.message = f"{problem}: searched for the plain words instead"
        return parsed

    def _parse_plain(self, text: str, match: str = "auto") -> ParsedQuery:
        words = self.content_words(text)
        if not words:
            return ParsedQuery(text, wq.NullQuery, plain=True)
        # The same rule for plain and syntax queries, so a pasted sentence with a hyphen or a
        # parenthesis is read like the same sentence without it.
        sentence = is_sentence(text)
        rule = match_rule(len(dict.fromkeys(words)), match, sentence)
        group = self._group(words, rule)
        query = self._parsers[group].parse(" ".join(words))
        rule, optional = self._clause_rule(query, rule, match, sentence)
        return ParsedQuery(
            text, query, plain=True, words=tuple(words), rule=rule, optional=optional
        )

    def _clause_rule(
        self, query: wq.Query, rule: MatchRule, match: str, sentence: bool
    ) -> tuple[MatchRule, frozenset[str]]:
        """The rule counted over the OR's clauses (words that stem alike, or a phrase, are one
        clause), common words left out of the count; and those words' stems."""
        if not isinstance(query, wq.Or):
            if rule.mode == "all":
                # What must match: the query's positive clauses ("huawei -panama" needs one).
                positive = len(positive_leaves(query)) or rule.of
                return MatchRule("all", positive, positive), frozenset()
            # Exclusions or fields wrap the words (AndNot, And): there is no flat OR to count
            # the clauses of, so the words are read as "any", and the response says so.
            return MatchRule("any", 1, rule.of), frozenset()
        common = self._common_stems()
        optional = frozenset(
            str(c.text)
            for c in query.subqueries
            if isinstance(c, wq.Term) and c.fieldname in SEARCH_FIELDS and str(c.text) in common
        )
        counted = len(query.subqueries) - len(optional)
        if counted == 0:  # nothing but common words: every word counts
            return match_rule(len(query.subqueries), match, sentence), frozenset()
        return match_rule(counted, match, sentence), optional

    def _group(self, words: list[str], rule: MatchRule) -> str:
        """AND when every word is required and none is a common word; else a counted OR."""
        if rule.mode != "all":
            return "or"
        common = common_words()
        mixed = any(w in common for w in words) and not all(w in common for w in words)
        return "or" if mixed else "and"

    def _common_stems(self) -> frozenset[str]:
        if self._common is None:
            stems: set[str] = set()
            for word in common_words():
                stems.update(t.text for t in self.analyzer(word, mode="query", removestops=False))
            self._common = frozenset(stems)
        return self._common


def is_sentence(text: str) -> bool:
    """True when text reads as a sentence or question: it has a function word ("the", "what")."""
    common = common_words()
    return any(word in common for word in _WORD_RE.findall(text.lower()))


def positive_leaves(query: wq.Query) -> list[wq.Query]:
    """The query's leaves that are not excluded (under NOT or the right of ANDNOT)."""
    excluded = {id(node) for node in _negated(query)}
    return [leaf for leaf in query.leaves() if id(leaf) not in excluded]


def _negated(query: wq.Query) -> list[wq.Query]:
    if isinstance(query, wq.Not):
        return list(query.leaves())
    if isinstance(query, wq.AndNot):
        return list(query.b.leaves()) + _negated(query.a)
    return [n for child in getattr(query, "subqueries", ()) for n in _negated(child)]


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Words that never count toward the minimum-should-match (search/common_words.txt)."""
    text = (Path(__file__).with_name("common_words.txt")).read_text(encoding="utf-8")
    words = {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}
    if not words:
        raise ValueError("search/common_words.txt lists no words")
    return frozenset(words)


def _strip_fields(text: str) -> str:
    return _FIELD_RE.sub(" ", _OPERATOR_RE.sub(" ", text))


def literal_prefix(pattern: str) -> str:
    """The characters of a wildcard pattern before its first wildcard."""
    for i, char in enumerate(pattern):
        if char in WILDCARD_CHARS:
            return pattern[:i]
    return pattern


def refuse_leading_wildcards(query: wq.Query) -> None:
    """InvalidRequest (422 on q) when a wildcard or prefix starts without literal characters."""
    for node in query.leaves():
        if isinstance(node, wq.Every):
            # A lone "*" (Whoosh's Every on a field) walks every posting of the field.
            raise InvalidRequest(
                "q", "'*' alone matches everything: leave q empty to browse, or add letters"
            )
        if isinstance(node, (wq.Prefix, wq.Wildcard)):
            text = str(node.text)
            prefix = text if isinstance(node, wq.Prefix) else literal_prefix(text)
            if len(prefix) < MIN_WILDCARD_PREFIX:
                raise InvalidRequest(
                    "q",
                    f"'{text}' starts with a wildcard, which would scan every word of the index: "
                    f"start it with at least {MIN_WILDCARD_PREFIX} letter(s) (e.g. 'migra*'), "
                    "or use plain words",
                )
