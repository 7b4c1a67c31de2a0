"""Turn what an analyst types into a Whoosh query, never failing on malformed input."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# Query-syntax field names → schema fields, besides each facet's own alias (facet_registry.py).
TEXT_FIELD_ALIASES = {"title": "title", "text": "text"}
# Up to this many content words, every word must match; longer queries (questions, pasted
# sentences) match any word and rank passages that match more words higher.
MAX_ALL_REQUIRED = 3
OR_COORDINATION = 0.9

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


@dataclass
class ParsedQuery:
    """The Whoosh query to run plus how the text was read, for the response and suggestions."""

    text: str
    query: wq.Query
    fallback: bool = False
    message: str | None = None
    plain: bool = True
    words: tuple[str, ...] = ()

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

    def content_words(self, text: str) -> list[str]:
        """The words of text that survive stop-word removal, as typed (lowercased)."""
        return [t.text for t in self.analyzer(text, mode="query", removestops=True, no_morph=True)]

    def parse(self, text: str) -> ParsedQuery:
        """Read text as query syntax; on malformed syntax fall back to its plain words and say so."""
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
            return self._fallback(text, problem)
        if plain:
            return self._parse_plain(syntax)
        words = self.content_words(_strip_fields(syntax))
        try:
            # Written boolean operators ask for boolean logic: "a b NOT c" must not become "a OR b
            # OR NOT c", so such queries keep AND between their words whatever their length.
            group = "and" if _OPERATOR_RE.search(syntax) else _grouping(words)
            query = self._parsers[group].parse(syntax)
        except (NotImplementedError, ValueError, TypeError):
            # Whoosh's parser raises on some operator placements, e.g. "alpha (+)- trait".
            return self._fallback(text, "unreadable operators")
        query = self._resolve_values(query)
        refuse_leading_wildcards(query)
        if query is wq.NullQuery and words and not _FIELD_RE.search(syntax):
            # Words glued to operators ("CD4+ T cells") can parse to nothing: search the words.
            return self._fallback(text, "unreadable operators")
        return ParsedQuery(text, query, plain=False, words=tuple(words))

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

    def _fallback(self, text: str, problem: str) -> ParsedQuery:
        parsed = self._parse_plain(" ".join(_WORD_RE.findall(text)))
        parsed.text = text
        parsed.fallback = True
        parsed.message = f"{problem}: searched for the plain words instead"
        return parsed

    def _parse_plain(self, text: str) -> ParsedQuery:
        words = self.content_words(text)
        query = self._parsers[_grouping(words)].parse(" ".join(words)) if words else wq.NullQuery
        return ParsedQuery(text, query, plain=True, words=tuple(words))


def _grouping(words: list[str]) -> str:
    """The implicit operator between words: "and" for short queries, "or" (coordinated) else.

    Applies to plain and syntax queries alike, so a pasted sentence with a hyphen or a
    parenthesis is read like the same sentence without it; explicit AND/OR/NOT, +/- and
    phrases keep their meaning either way.
    """
    return "and" if len(words) <= MAX_ALL_REQUIRED else "or"


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
