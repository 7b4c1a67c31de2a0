"""A saved search run over a few passages only (a commit's), through the engine's own stages.

Parsing, expansion bounds, filter masks, matching, BM25 scores and highlights are the ones
`SearchEngine.search` uses, so a passage's score, filters and highlight in an alert are what
/api/search shows for it. What differs: the match set is cut to the given passages, and there is
no relaxed reading, spelling correction, rescoring or diagnosis (an alert reports what the
search finds as typed, never a guess). A `NewPassages` batch reads and tokenizes the commit's
passages once for every saved search that runs over them.
"""

from __future__ import annotations

import re

import numpy as np
from whoosh import query as wq

from search.highlighting import query_terms, spans_in
from search.querying import ParsedQuery, positive_leaves
from search.ranking import RankedMatches, VectorRanker, join_postings, plain_terms
from search.results import Hit, SearchRequest
from search.searching import SearchEngine, _ranked_within, highlighted_hit
from search.segments import segment_id
from search.snapshots import Snapshot
from search.store import PassageRecord, decode_passage

# The mask key of the passages being percolated (no facet is named so).
WITHIN = "_within"
# The field whose words the pre-checks know (the passage text, with its title, is indexed there).
TEXT_FIELD = "text"
# Query text without operators, fields, patterns or grouping: its words are all it looks for.
PLAIN_QUERY = re.compile(r"^[^:*?()\-+~^\[\]{}]*$")
OPERATORS = re.compile(r"\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b")


class NewPassages:
    """The passages of one commit in one snapshot: records, tokens and words, read once."""

    def __init__(self, engine: SearchEngine, snap: Snapshot, seqs: dict[int, int]) -> None:
        self.engine = engine
        self.snap = snap
        self.seqs = seqs
        matcher = engine.token_matcher
        self.records: dict[int, PassageRecord] = {}
        self.tokens: dict[int, list[tuple[str, str, tuple[int, int]]]] = {}
        self.words: set[str] = set()
        for docnum in seqs:
            record = decode_passage(snap.searcher.stored_fields(docnum), engine.facets)
            self.records[docnum] = record
            self.tokens[docnum] = matcher.tokens(record.text)
            # Indexed as title + text (search/store.py): a title word matches every passage.
            self.words.update(stem for _, stem, _ in self.tokens[docnum])
            if record.title:
                self.words.update(stem for _, stem, _ in matcher.tokens(record.title))
        self._masks: dict[int, np.ndarray] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # The index segments holding new passages (a commit writes its own segment, so usually
        # the last one): their postings alone are read to score the new passages.
        docnums = sorted(seqs)
        self.leaves = []
        for sub, offset in snap.searcher.leaf_searchers():
            count = sub.reader().doc_count_all()
            first = int(np.searchsorted(docnums, offset))
            if first < len(docnums) and docnums[first] < offset + count:
                self.leaves.append((sub, offset))

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's docnums and frequencies within the segments of the new passages, through the
        engine's per-segment postings cache (search/segments.py)."""
        found = self._postings.get(term)
        if found is not None:
            return found
        leaves = [(sub.reader(), offset, segment_id(sub.reader())) for sub, offset in self.leaves]
        found = self._postings[term] = join_postings(self.snap.ranker.cache, leaves, term)
        return found

    def matching(self, query: wq.Query) -> np.ndarray:
        """Docnum mask of the passages of the new passages' segments that query matches (as
        Searcher.docs_for_query, over those segments only)."""
        ids = [docnum + offset for sub, offset in self.leaves for docnum in query.docs(sub)]
        return self.snap.facets.mask(ids)

    def rank(
        self, mode: str, terms: list[str], live: np.ndarray, required: int, optional: frozenset[str]
    ) -> RankedMatches | None:
        """VectorRanker.rank over the new passages' segments only: the same BM25 (global idf,
        lengths and average length), so the same scores for the passages in `live`."""
        ranker: VectorRanker = self.snap.ranker
        scores = np.zeros(ranker.size, dtype=np.float64)
        counts = np.zeros(ranker.size, dtype=np.int16)
        unique = list(dict.fromkeys(terms))
        for term in unique:
            ids, tf = self.postings(term)
            if not ids.size:
                continue
            # The ranker's own BM25 (float64, Whoosh's order of operations): equal scores.
            scores[ids] += ranker._bm25(term, ids, tf)
            if term not in optional:
                counts[ids] += 1
        needed = len(unique) if mode == "and" else max(1, required)
        return RankedMatches((counts >= needed) & live, scores)

    def within(self, after: int) -> np.ndarray:
        """Docnum mask of the passages numbered above `after`."""
        mask = self._masks.get(after)
        if mask is None:
            mask = self._masks[after] = self.snap.facets.mask(
                [d for d, seq in self.seqs.items() if seq > after]
            )
        return mask

    def may_contain(self, q: str) -> bool:
        """False when q is plain words and none of them is in these passages (no need to parse
        it: nothing here can match). Stems and words as the highlighter reads them, a superset
        of what the index holds, so the answer errs towards running the search."""
        if not q.strip() or not PLAIN_QUERY.match(q) or OPERATORS.search(q):
            return True
        stems = {stem for _, stem, _ in self.engine.token_matcher.tokens(q)}
        return not stems or bool(stems & self.words)

    def hit(self, parsed: ParsedQuery, docnum: int, score: float | None) -> Hit:
        """The hit as SearchEngine._hit makes it, from the cached record and tokens."""
        record = self.records[docnum]
        spans: list[tuple[int, int]] = []
        if not parsed.is_empty:
            terms, prefixes = query_terms(parsed.query)
            spans = spans_in(self.tokens[docnum], terms, prefixes)
        return highlighted_hit(record, spans, score)


def could_match(parsed: ParsedQuery, words: set[str]) -> bool:
    """False only when no passage holding just `words` can match the query.

    A match needs one of the query's positive leaves to match (AND, OR, AND NOT and AND MAYBE
    all do); when every positive leaf is a word, phrase or prefix on the text field and none of
    them is among the words, nothing can. Anything else (field queries, pure exclusions, an
    empty query) may match, and is run.
    """
    if parsed.is_empty:
        return True
    leaves = positive_leaves(parsed.query)
    if not leaves:
        return True
    for leaf in leaves:
        if getattr(leaf, "fieldname", None) != TEXT_FIELD:
            return True
        if isinstance(leaf, (wq.Prefix, wq.Wildcard)):
            prefix = str(leaf.text).split("*")[0].split("?")[0].lower()
            if any(word.startswith(prefix) for word in words):
                return True
        elif isinstance(leaf, wq.Phrase):
            if all(str(w) in words for w in leaf.words):
                return True
        elif isinstance(leaf, wq.Term):
            if str(leaf.text) in words:
                return True
        else:
            return True
    return False


def hits_within(
    batch: NewPassages, request: SearchRequest, after: int, parsed: ParsedQuery
) -> list[tuple[int, Hit]]:
    """(docnum, hit) for every hit of request among the batch's passages numbered above
    `after`, ranked as /api/search ranks them (relevance, or date for an empty query)."""
    engine, snap = batch.engine, batch.snap
    query, _ = engine._bounded(snap, parsed)
    masks = engine.request_masks(snap, request)
    within = batch.within(after)
    ranked = None
    shape = None if parsed.is_empty else plain_terms(query)
    if shape is not None:
        # Words only: scored over the new passages' segments instead of the whole index.
        ranked = batch.rank(
            shape[0], shape[1], snap.facets.live & within, parsed.required, parsed.optional
        )
    if ranked is not None:
        final = ranked.mask.copy()
        for mask in masks.values():
            final &= mask
        total = int(final.sum())
    elif not parsed.is_empty and parsed.required <= 1 and not parsed.optional:
        # Phrases, prefixes, fields, exclusions: matched over the new segments only; scored
        # below by Whoosh over the index, and only when something matched.
        final = batch.matching(query) & snap.facets.live & within
        for mask in masks.values():
            final &= mask
        total = int(final.sum())
    else:
        masks[WITHIN] = within
        _, ranked, final, total, _, _ = engine._matches(snap, parsed, query, masks)
    if total == 0:
        return []
    docnums = np.flatnonzero(final)
    scored: list[tuple[int, float | None]]
    if parsed.is_empty:
        dates = snap.facets.dates[docnums].astype(np.int64)
        key = np.where(dates > 0, -dates, np.iinfo(np.int64).max)
        scored = [(int(d), None) for d in docnums[np.lexsort((docnums, key))]]
    elif ranked is not None:
        scores = ranked.scores_at(docnums)
        order = np.lexsort((docnums, -scores))
        scored = [(int(docnums[i]), float(scores[i])) for i in order]
    else:
        found, _ = _ranked_within(snap.searcher, query, total, set(docnums.tolist()), None)
        scored = [(d, s) for d, s in found]
    return [(docnum, batch.hit(parsed, docnum, score)) for docnum, score in scored]
