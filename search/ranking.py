"""Vectorised BM25 for word and phrase queries: one pass over postings gives match set and scores.

Whoosh scores hits one posting at a time in Python, and the engine needs two passes (every match
for exact totals and facets, then the top hits). For the commonest queries (words on the text
field, all required or any, and exact phrases) this module scores every match at once with numpy
over each segment's decoded postings (search/segments.py), with the same BM25 as Whoosh (Lucene
idf, Whoosh's quantised field lengths); a phrase scores as the AND of its words, as in Whoosh,
and only passages holding all its words have their positions checked. Anything else (prefixes,
fields, exclusions) goes through Whoosh unchanged.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from whoosh import query as wq
from whoosh.reading import IndexReader
from whoosh.searching import Searcher

from search.facets import Selection
from search.kernels import at_least, compiled, find_sorted, top_docnums, where_at_least
from search.segments import TEXT_FIELD, Postings, SegmentCache, SegmentData

FIELD = TEXT_FIELD


# Postings joined across a view's segments, per view (per worker), least recently used out
# first: the words of the last few hundred queries at 100k passages (12 bytes a posting).
JOINED_POSTINGS_BYTES = 64 * 1024 * 1024
# Words' postings per segment a view keeps at hand (references to the segment cache's arrays,
# no copies; counted as if their own, since the segment cache may let them go): a pasted
# sentence's frequent words, a dozen or two of a few megabytes each at a million passages.
SEGMENT_POSTINGS_BYTES = 64 * 1024 * 1024
# A query of at least this many clauses (a pasted sentence) scores its frequent words last ...
DEFER_MIN_CLAUSES = 4
# ... the words found in more than this share of passages: their postings are the longest and
# their idf the lowest, so they can rarely lift a passage into the top hits (MaxScore). They
# are scored only for the passages that could still reach the top (search/ranking.py top()).
DEFER_SHARE = 0.02
# Passages per requested hit whose full scores set MaxScore's first threshold: those leading on
# the rare words' scores. A few thousand exact scores cost little next to scoring every
# frequent word over most of a million passages before the threshold climbs.
PROBE_PER_HIT = 8
# While more than this share of the view's passages could still reach the top, pending words
# are scored over the whole view (one pass over a word's postings) rather than per candidate
# (a lookup array of the view's size built per word): the sentence matching 81 % of a million
# passages spent two thirds of its ranking on that.
DENSE_SHARE = 1 / 8


@dataclass
class RankedMatches:
    """Every passage a query matches (boolean mask) and each one's BM25 score.

    With `pending` words, `scores` lacks their share: each adds at most its idf * (k1 + 1),
    `bound` in all, and top() completes the scores of just the passages that can still rank.
    Scores are held per passage of the view (`dense`), or, for words that must all match, only
    at the matches (`values` at `docnums`): an array of the view's size made only if asked for.
    """

    mask: np.ndarray
    dense: np.ndarray | None
    # False when a deadline stopped the scoring before every term was read (partial results).
    complete: bool = True
    pending: tuple[str, ...] = ()
    bound: float = 0.0
    ranker: VectorRanker | None = None
    # The matches' docnums, ascending, when the ranking found them without a pass over the
    # mask (a word's own postings, or the rarest word's of an AND), else None.
    docnums: np.ndarray | None = None
    # Without `dense`: the matches' scores, at docnums.
    values: np.ndarray | None = None

    @property
    def scores(self) -> np.ndarray:
        """Every passage's score (0 where it does not match)."""
        if self.dense is None:
            assert self.docnums is not None and self.values is not None
            dense = np.zeros(self.mask.size, dtype=np.float64)
            dense[self.docnums] = self.values
            self.dense = dense
        return self.dense

    def scores_at(self, candidates: np.ndarray) -> np.ndarray:
        """The scores of some matches (docnums ascending)."""
        if self.dense is None and self.docnums is not None and self.values is not None:
            if candidates.size == self.docnums.size:
                return self.values  # every match: the same docnums
            return self.values[np.searchsorted(self.docnums, candidates)]
        return self.scores[candidates]

    def top(
        self, allowed: np.ndarray | Selection, start: int, stop: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Docnums ranked start..stop among allowed matches (a mask, or a Selection that knows
        its docnums: score descending, docnum ascending) and their scores."""
        size = allowed.size if isinstance(allowed, Selection) else int(np.count_nonzero(allowed))
        if size == 0 or start >= size:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        stop = min(stop, size)
        if self.pending and self.ranker is not None:
            candidates, cand_scores = self._max_score(self.ranker, allowed, size, stop)
        else:
            candidates = _listed(allowed)
            cand_scores = self.scores_at(candidates)
        if stop < candidates.size:
            # Partition first so only the top `stop` are sorted; ties at the cut are kept whole.
            cut = np.partition(-cand_scores, stop - 1)[stop - 1]
            keep = -cand_scores <= cut
            candidates, cand_scores = candidates[keep], cand_scores[keep]
        order = np.lexsort((candidates, -cand_scores))[start:stop]
        return candidates[order], cand_scores[order]

    def _max_score(
        self, ranker: VectorRanker, allowed: np.ndarray | Selection, size: int, stop: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The allowed matches (`size` of them) that can still rank among the first `stop`,
        with their full scores: the pending words scored only where they can matter.

        MaxScore, one pending word at a time: the stop-th best partial score is a floor for
        the stop-th best full score, so a passage whose partial score plus what the words
        still pending could add at most cannot reach it is out. Each word scored raises the
        floor and lowers what is pending: fewer passages for the next word. The rarest pending
        words first: they can add the most and have the fewest postings.
        """
        mask = allowed.mask if isinstance(allowed, Selection) else allowed
        pending = sorted(self.pending, key=ranker.most, reverse=True)
        first, known = 0, -math.inf
        probe_size = PROBE_PER_HIT * stop
        if self.dense is not None and size > max(DENSE_SHARE * ranker.size, probe_size):
            # Most passages are candidates (a pasted sentence's common words match most of
            # the view): the probe and the first pending words over the view's scores as they
            # stand, never listing the candidates (a list of most of a million docnums, a
            # gather, a partition and a scatter back cost more than the words).
            lead = top_docnums(self.dense, mask, probe_size)
            known = _probe_floor(ranker, lead, self.dense[lead], pending, stop)
            dense = np.where(mask, self.dense, -np.inf)
            candidates, cand_scores, first = _score_densely(ranker, dense, pending, known)
        else:
            candidates = _listed(allowed)
            cand_scores = self.scores_at(candidates)
            if candidates.size > probe_size:
                # Indexes in ascending order keep the docnums so (pending_scores).
                picked = np.sort(np.argpartition(-cand_scores, probe_size - 1)[:probe_size])
                known = _probe_floor(ranker, candidates[picked], cand_scores[picked], pending, stop)
        for at, term in enumerate(pending[first:], start=first):
            remaining = sum(ranker.most(t) for t in pending[at:])
            floor = max(known, -np.partition(-cand_scores, stop - 1)[stop - 1])
            keep = cand_scores + remaining >= floor
            if not keep.all():
                candidates, cand_scores = candidates[keep], cand_scores[keep]
            cand_scores = cand_scores + ranker.pending_scores(term, candidates)
        return candidates, cand_scores


def _listed(allowed: np.ndarray | Selection) -> np.ndarray:
    """The allowed docnums, ascending (a Selection lists its own once for every user)."""
    return allowed.docnums if isinstance(allowed, Selection) else np.flatnonzero(allowed)


def _score_densely(
    ranker: VectorRanker, dense: np.ndarray, pending: list[str], floor: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pending words scored over the whole view while most passages are still candidates: a
    word's postings added to one array of every passage's score (-inf where not a candidate;
    the same sums, in the same order, as per candidate), instead of matching every candidate
    against them. Stops when the candidates that could still reach `floor` are few; returns
    them, their scores and the next pending word."""
    at = 0
    while True:
        remaining = sum(ranker.most(t) for t in pending[at:])
        survivors = at_least(dense, remaining, floor)
        if at == len(pending) or survivors <= DENSE_SHARE * ranker.size:
            break
        ranker.add_scores(pending[at], dense)
        at += 1
    kept = where_at_least(dense, remaining, floor, survivors)
    return kept, dense[kept], at


def _probe_floor(
    ranker: VectorRanker,
    lead: np.ndarray,
    partial: np.ndarray,
    pending: list[str],
    stop: int,
) -> float:
    """A floor under the stop-th best full score: the stop-th best full score of some
    candidates (`lead`, ascending docnums, with their partial scores), best those leading on
    the partial scores (MaxScore's threshold, known before the first pending word instead of
    growing word by word). Any candidates give a floor: the stop-th best of some full scores
    cannot exceed the stop-th best of all."""
    full = partial
    for term in pending:
        full = full + ranker.pending_scores(term, lead)
    # A hair under: the loop adds the same terms in the same order, but a floor must never
    # exceed a score it stands for.
    floor = float(-np.partition(-full, stop - 1)[stop - 1])
    return floor - abs(floor) * 1e-9


@dataclass(frozen=True)
class QueryShape:
    """A query the vectorised ranker answers: word and exact-phrase clauses joined one way."""

    mode: str  # "and" | "or"
    terms: list[str]
    # Each phrase clause's words, in order.
    phrases: list[list[str]] = field(default_factory=list)


def _plain_term(node: wq.Query) -> bool:
    return isinstance(node, wq.Term) and node.fieldname == FIELD and node.boost == 1


def _plain_phrase(node: wq.Query) -> bool:
    """An exact phrase (slop 1) on the text field, as Whoosh's Phrase reads it."""
    return (
        isinstance(node, wq.Phrase)
        and node.fieldname == FIELD
        and node.boost == 1
        and node.slop == 1
        and len(node.words) > 1
    )


def plain_terms(query: wq.Query) -> tuple[str, list[str]] | None:
    """("and"|"or", terms) when query is words on the text field joined one way, else None."""
    shape = query_shape(query)
    if shape is None or shape.phrases:
        return None
    return shape.mode, shape.terms


def query_shape(query: wq.Query) -> QueryShape | None:
    """The ranker's reading of a query: words and exact phrases on the text field joined by
    AND or OR; None for anything else (prefixes, fields, exclusions), which Whoosh runs."""
    if _plain_term(query):
        return QueryShape("and", [str(query.text)])
    if _plain_phrase(query):
        return QueryShape("and", [], [[str(w) for w in query.words]])
    if not isinstance(query, (wq.And, wq.Or)) or isinstance(query, wq.DisjunctionMax):
        return None
    if isinstance(query, wq.Or) and getattr(query, "minmatch", None):
        return None
    terms: list[str] = []
    phrases: list[list[str]] = []
    for child in query.subqueries:
        if _plain_term(child):
            terms.append(str(child.text))
        elif _plain_phrase(child):
            phrases.append([str(w) for w in child.words])
        else:
            return None
    return QueryShape("and" if isinstance(query, wq.And) else "or", terms, phrases)


def join_postings(
    cache: SegmentCache, leaves: list[tuple[IndexReader, int, str]], term: str
) -> tuple[np.ndarray, np.ndarray]:
    """A term's docnums (ascending, at each segment's offset) and frequencies over the given
    segments (reader, offset, segment id), from their cached postings."""
    found = [(cache.postings(reader, term, segid), offset) for reader, offset, segid in leaves]
    total = sum(postings.ids.size for postings, _ in found)
    ids = np.empty(total, np.int64)
    tf = np.empty(total, np.float32)
    at = 0
    for postings, offset in found:
        end = at + postings.ids.size
        # One pass into the joined array: a frequent word's postings at a million passages
        # are megabytes, and a cast, an add and a concatenation were three.
        np.add(postings.ids, offset, out=ids[at:end], casting="unsafe")
        tf[at:end] = postings.tf
        at = end
    return ids, tf


def _count(counts: np.ndarray, ids: np.ndarray) -> None:
    """One more matched term at each docnum: a count, or a mark when any one term will do."""
    if counts.dtype == bool:
        counts[ids] = True
    else:
        counts[ids] += 1


def bm25_norm(lengths: np.ndarray, k1: float, b: float, avg_length: float) -> np.ndarray:
    """BM25's length normalisation of passages of these field lengths, in float64 and in
    Whoosh's order of operations (whoosh.scoring.bm25)."""
    return k1 * ((1 - b) + b * lengths.astype(np.float64) / avg_length)


def bm25_weight(idf: float, tf: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    """A term's BM25 at passages of these frequencies and normalisations (bm25_norm), in
    Whoosh's order of operations, so scores equal Whoosh's and ties break the same way."""
    tf64 = tf.astype(np.float64)
    return idf * ((tf64 * (k1 + 1)) / (tf64 + norm))


# Phrase checks key a (candidate, start position) pair as candidate * _STRIDE + position.
_STRIDE = 1 << 32


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values in both of two ascending arrays of distinct values, ascending: a binary
    search of the shorter's values in the longer (np.intersect1d sorts both together: at a
    million passages a phrase spent a third of its time in those sorts)."""
    if a.size > b.size:
        a, b = b, a
    if not a.size:
        return a
    at = np.minimum(np.searchsorted(b, a), b.size - 1)
    return a[b[at] == a]


class VectorRanker:
    """A view's BM25 statistics over its segments' cached postings (search/segments.py)."""

    def __init__(
        self,
        searcher: Searcher,
        segments: list[SegmentData],
        cache: SegmentCache,
        b: float,
        k1: float,
    ) -> None:
        self.searcher = searcher
        self.cache = cache
        self.b, self.k1 = b, k1
        self.leaves: list[tuple[IndexReader, int, SegmentData]] = [
            (sub.reader(), offset, data)
            for (sub, offset), data in zip(searcher.leaf_searchers(), segments, strict=True)
        ]
        self._segments = [(reader, offset, data.segid) for reader, offset, data in self.leaves]
        self.size = sum(data.size for data in segments)
        # Each segment's first docnum in the view, and the view's end.
        self._offsets = np.array(
            [offset for _, offset, _ in self.leaves] + [self.size], dtype=np.int64
        )
        self.avg_length = searcher.avg_field_length(FIELD) or 1.0
        self._lengths: np.ndarray | None = None
        # A term's postings over the whole view (segments joined at their offsets), joined on
        # first use: a per-segment loop costs a few numpy calls per segment and term.
        self._joined: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._joined_bytes = 0
        # A frequent word's postings per segment (references to the segment cache's arrays,
        # no copy), for the compiled loops that go segment by segment: a pasted sentence
        # reads each of its frequent words' postings in every segment three or four times
        # (marking, MaxScore's probe, scoring), and a cache look-up per segment each time
        # cost more than the loops on the probe's few docnums.
        self._per_segment: OrderedDict[str, list[tuple[Postings, int]]] = OrderedDict()
        self._per_segment_bytes = 0
        self._idfs: dict[str, float] = {}
        self._dfs: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def lengths(self) -> np.ndarray:
        """Every passage's field length in this view (4 bytes a passage, joined once)."""
        if self._lengths is None:
            parts = [data.lengths for _, _, data in self.leaves]
            self._lengths = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return self._lengths

    def joined(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's view-wide docnums (ascending) and frequencies, from the segment caches."""
        with self._lock:
            found = self._joined.get(term)
            if found is not None:
                self._joined.move_to_end(term)
                return found
        found = join_postings(self.cache, self._segments, term)
        with self._lock:
            self._joined[term] = found
            self._joined_bytes += found[0].nbytes + found[1].nbytes
            while self._joined_bytes > JOINED_POSTINGS_BYTES and len(self._joined) > 1:
                _, (ids, tf) = self._joined.popitem(last=False)
                self._joined_bytes -= ids.nbytes + tf.nbytes
        return found

    def segment_postings(self, term: str) -> list[tuple[Postings, int]]:
        """A term's cached postings in each segment of the view, with the segment's offset."""
        with self._lock:
            found = self._per_segment.get(term)
            if found is not None:
                self._per_segment.move_to_end(term)
                return found
        found = [
            (self.cache.postings(reader, term, segid), offset)
            for reader, offset, segid in self._segments
        ]
        with self._lock:
            if term not in self._per_segment:
                self._per_segment[term] = found
                self._per_segment_bytes += sum(postings.nbytes for postings, _ in found)
            while self._per_segment_bytes > SEGMENT_POSTINGS_BYTES and len(self._per_segment) > 1:
                _, gone = self._per_segment.popitem(last=False)
                self._per_segment_bytes -= sum(postings.nbytes for postings, _ in gone)
        return found

    def doc_frequency(self, term: str) -> int:
        """Passages of the view holding a term, deleted ones included (as Whoosh counts)."""
        # Kept per view: Whoosh looks a term up in every segment's term table each time (about
        # a millisecond at 20 segments), and a prefix expands to hundreds of terms.
        n = self._dfs.get(term)
        if n is None:
            n = self._dfs[term] = self.searcher.doc_frequency(FIELD, term)
        return n

    def _idf(self, term: str) -> float:
        idf = self._idfs.get(term)
        if idf is None:
            n = self.doc_frequency(term)
            total = self.searcher.doc_count_all()
            idf = self._idfs[term] = math.log(1 + (total - n + 0.5) / (n + 0.5))
        return idf

    def rank(
        self,
        mode: str,
        terms: list[str],
        live: np.ndarray,
        required: int = 1,
        optional: frozenset[str] = frozenset(),
        deadline: float | None = None,
        phrases: list[list[str]] | None = None,
    ) -> RankedMatches | None:
        """Match set and BM25 scores: all terms ("and"), or at least `required` of them ("or");
        with phrases, only passages holding each phrase's words side by side.

        Optional terms (common words) add to the score but not to the count of matched terms.
        Past the deadline (time.monotonic()) the terms read so far decide, and `complete` is
        False.
        """
        unique = list(dict.fromkeys(terms))
        if len(unique) == 1 and not phrases and not optional and required <= 1:
            return self._rank_word(unique[0], live)
        every = mode == "and" and not optional and (unique or phrases)
        if every and not self._deferred(unique, len(unique) + len(phrases or [])):
            return self._rank_every_clause(unique, phrases or [], live)
        scores = np.zeros(self.size, dtype=np.float64)
        # Any one term will do (a pasted sentence): a passage's matches need no count, only
        # a mark, and setting a flag costs half of adding to a count (measured at a million
        # passages: 0.96 against 2.38 ms for a word in 60 % of them).
        union = mode != "and" and required <= 1
        counts = np.zeros(self.size, dtype=bool if union else np.int16)
        deferred = self._deferred(unique, len(unique) + len(phrases or []))
        fresh = True  # scores still all zero: the first word's are set, not added
        for seen, term in enumerate(unique):
            if deadline is not None and seen and time.monotonic() >= deadline:
                needed = seen if mode == "and" else 1
                return RankedMatches((counts >= needed) & live, scores, complete=False)
            counted = None if term in optional else counts
            if term in deferred:
                if counted is not None:
                    self._count_term(term, counted)
            else:
                self._score_term(term, scores, counted, fresh=fresh)
                fresh = False
        for words in phrases or []:
            # A phrase is one clause: Whoosh scores it as the sum of its words' scores (a
            # repeated word counted each time), in the passages where it stands.
            within = self.phrase_mask(words)
            for word in words:
                self._score_term(word, scores, None, within)
            if union:
                counts |= within
            else:
                counts += within
        clauses = len(unique) + len(phrases or [])
        needed = clauses if mode == "and" else max(1, required)
        bound = sum(self.most(t) for t in deferred)
        docnums = None
        if mode == "and" and unique and not optional:
            # Every match holds every word: the rarest word's postings are where to look, a
            # gather of thousands instead of a pass over the view to list the matches.
            rarest, _ = self.joined(min(unique, key=self.doc_frequency))
            docnums = rarest[(counts[rarest] >= needed) & live[rarest]]
            mask = np.zeros(self.size, dtype=bool)
            mask[docnums] = True
        else:
            mask = (counts & live) if union else (counts >= needed) & live
        return RankedMatches(
            mask, scores, pending=tuple(deferred), bound=bound, ranker=self, docnums=docnums
        )

    def _rank_every_clause(
        self, words: list[str], phrases: list[list[str]], live: np.ndarray
    ) -> RankedMatches:
        """Words and phrases that must all match: the fewest matches of one clause narrowed by
        each other's, then every word scored at the matches only, in the order and with the
        sums of scoring word by word over all postings (at a million passages "oil prices"
        scores 39,000 passages instead of 150,000 postings). A phrase scores as its words."""
        postings = [self.joined(word) for word in words]
        clauses = [ids for ids, _ in postings] + [self.phrase_docnums(p) for p in phrases]
        fewest = min(range(len(clauses)), key=lambda i: clauses[i].size)
        docnums = clauses[fewest]
        # Where each word's postings hold the candidates, kept aligned with them as they
        # narrow: its frequencies at the matches are a gather, not another search.
        found = {fewest: np.arange(docnums.size)} if fewest < len(words) else {}
        for at, ids in enumerate(clauses):
            if at != fewest and docnums.size:
                where = find_sorted(ids, docnums)
                keep = where >= 0
                docnums = docnums[keep]
                found = {k: v[keep] for k, v in found.items()}
                if at < len(words):
                    found[at] = where[keep]
        alive = live[docnums]
        docnums = docnums[alive]
        mask = np.zeros(self.size, dtype=bool)
        mask[docnums] = True
        total = np.zeros(docnums.size, dtype=np.float64)
        if docnums.size:
            norm = self._norm(docnums)
            tfs = [tf[found[at][alive]] for at, (_, tf) in enumerate(postings)]
            for phrase in phrases:
                # Each word's postings hold every passage where the phrase stands.
                for word in phrase:
                    ids, tf = self.joined(word)
                    tfs.append(tf[find_sorted(ids, docnums)])
            scored = words + [word for phrase in phrases for word in phrase]
            for at, (word, tf) in enumerate(zip(scored, tfs, strict=True)):
                part = self._bm25(word, docnums, tf, norm)
                total = part if at == 0 else total + part
        return RankedMatches(mask, None, ranker=self, docnums=docnums, values=total)

    def _rank_word(self, term: str, live: np.ndarray) -> RankedMatches:
        """One word: its postings are its matches, scored where they are."""
        ids, tf = self.joined(term)
        alive = live[ids]
        docnums, tf = ids[alive], tf[alive]
        mask = np.zeros(self.size, dtype=bool)
        mask[docnums] = True
        values = self._bm25(term, docnums, tf)
        return RankedMatches(mask, None, ranker=self, docnums=docnums, values=values)

    def add_scores(self, term: str, scores: np.ndarray) -> None:
        """Add a term's BM25 to scores (a float per passage of the view) where it occurs."""
        loops = compiled()
        if loops is None:
            ids, tf = self.joined(term)
            scores[ids] += self._bm25(term, ids, tf)
            return
        # Segment by segment from the cached postings (search/kernels.py): a frequent word's
        # joined postings are megabytes, made and dropped again when a pasted sentence's words
        # overflow the joins.
        add, lengths, idf = loops["add_bm25"], self.lengths, self._idf(term)
        for postings, offset in self.segment_postings(term):
            add(
                scores,
                postings.ids,
                postings.tf,
                offset,
                lengths,
                idf,
                self.k1,
                self.b,
                self.avg_length,
            )

    def most(self, term: str) -> float:
        """The most a term's BM25 can add to a passage's score (its idf times k1 + 1)."""
        return self._idf(term) * (self.k1 + 1)

    def _deferred(self, unique: list[str], clauses: int) -> list[str]:
        """The frequent words of a long query, scored only where they can matter."""
        if clauses < DEFER_MIN_CLAUSES:
            return []
        limit = DEFER_SHARE * self.size
        return [t for t in unique if self.doc_frequency(t) > limit]

    def _count_term(self, term: str, counts: np.ndarray) -> None:
        """Count a term's matches without scoring them."""
        loops = compiled()
        if loops is None:
            _count(counts, self.joined(term)[0])
            return
        # Segment by segment (search/kernels.py): a frequent word's postings joined across
        # the view are megabytes, made only to be marked once (MaxScore scores them per
        # segment too).
        mark = loops["mark_postings" if counts.dtype == bool else "count_postings"]
        for postings, offset in self.segment_postings(term):
            mark(counts, postings.ids, offset)

    def pending_scores(self, term: str, docnums: np.ndarray) -> np.ndarray:
        """A deferred word's BM25 at some docnums (ascending, global), 0 where it is absent:
        scores_for((term,), docnums), found segment by segment in the cached postings."""
        loops = compiled()
        if loops is None:
            return self.scores_for((term,), docnums)
        out = np.zeros(docnums.size, dtype=np.float64)
        if not docnums.size:
            return out
        docnums = docnums.astype(np.int64, copy=False)
        # Where each segment's docnums begin and end in the (ascending) list.
        bounds = np.searchsorted(docnums, self._offsets).tolist()
        add, lengths, idf = loops["add_bm25_at"], self.lengths, self._idf(term)
        k1, b, avg = self.k1, self.b, self.avg_length
        for (postings, offset), lo, hi in zip(
            self.segment_postings(term), bounds, bounds[1:], strict=False
        ):
            if lo != hi:
                add(
                    out,
                    docnums,
                    lo,
                    hi,
                    postings.ids,
                    postings.tf,
                    offset,
                    lengths,
                    idf,
                    k1,
                    b,
                    avg,
                )
        return out

    def _norm(self, ids: np.ndarray) -> np.ndarray:
        """BM25's length normalisation at these docnums (the same for every term)."""
        return bm25_norm(self.lengths[ids], self.k1, self.b, self.avg_length)

    def _bm25(
        self, term: str, ids: np.ndarray, tf: np.ndarray, norm: np.ndarray | None = None
    ) -> np.ndarray:
        """A term's BM25 at these docnums, in float64 and in Whoosh's order of operations
        (whoosh.scoring.bm25), so scores equal Whoosh's and ties break the same way; `norm`
        is _norm(ids) when the caller has it."""
        if norm is None:
            norm = self._norm(ids)
        return bm25_weight(self._idf(term), tf, norm, self.k1)

    def scores_for(self, terms: tuple[str, ...], docnums: np.ndarray) -> np.ndarray:
        """The terms' summed BM25 for the given docnums only (ascending, global)."""
        out = np.zeros(len(docnums), dtype=np.float64)
        if not docnums.size:
            return out
        # Where docnums stand in `out`, for terms whose postings are shorter than a binary
        # search of every docnum would cost (a prefix's hundreds of words against many
        # candidates): one gather per posting instead of one search per candidate.
        slot: np.ndarray | None = None
        search_cost = docnums.size * max(1, int(docnums.size).bit_length())
        for term in terms:
            ids, tf = self.joined(term)
            if not ids.size:
                continue
            if ids.size < search_cost:
                if slot is None:
                    slot = np.full(self.size, -1, dtype=np.int64)
                    slot[docnums] = np.arange(docnums.size)
                where = slot[ids]
                hit = where >= 0
                out[where[hit]] += self._bm25(term, ids[hit], tf[hit])
            else:
                at = np.minimum(np.searchsorted(ids, docnums), ids.size - 1)
                hit = ids[at] == docnums
                out[hit] += self._bm25(term, docnums[hit], tf[at[hit]])
        return out

    def _score_term(
        self,
        term: str,
        scores: np.ndarray,
        counts: np.ndarray | None,
        within: np.ndarray | None = None,
        fresh: bool = False,
    ) -> None:
        """Add a term's BM25 to scores (only within a mask, if given) and count its matches;
        `fresh` scores are all zero yet, and are set (0 + x is x: half the cost of an add)."""
        ids, tf = self.joined(term)
        if within is not None and ids.size:
            keep = within[ids]
            ids, tf = ids[keep], tf[keep]
        if not ids.size:
            return
        if fresh:
            scores[ids] = self._bm25(term, ids, tf)
        else:
            scores[ids] += self._bm25(term, ids, tf)
        if counts is not None:
            _count(counts, ids)

    def phrase_mask(self, words: list[str]) -> np.ndarray:
        """Passages where the words stand side by side, in order (Whoosh's Phrase, slop 1).

        Only passages holding every word (an intersection of cached docnums) have their
        positions read, and each segment's answer is kept while the segment lives.
        """
        mask = np.zeros(self.size, dtype=bool)
        mask[self.phrase_docnums(words)] = True
        return mask

    def phrase_docnums(self, words: list[str]) -> np.ndarray:
        """The docnums (ascending, deleted ones included) where the words stand side by side."""
        key = "phrase:" + " ".join(words)
        parts = []
        for reader, offset, data in self.leaves:
            docs = self.cache.match(data.segid, key)
            if docs is None:
                docs = self._phrase_docs(reader, words)
                self.cache.keep_match(data.segid, key, docs)
            parts.append(docs.astype(np.int64) + offset)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _phrase_docs(self, reader: IndexReader, words: list[str]) -> np.ndarray:
        postings = [self.cache.postings(reader, w) for w in words]
        candidates = postings[0].ids
        for other in postings[1:]:
            candidates = _common(candidates, other.ids)
        if not candidates.size:
            return candidates
        # Each (candidate, position the phrase would start at) as one integer key; a phrase
        # starts where every word k has a key at start + k. Keys come out ascending (candidates
        # in order, positions ascending in each), so the intersections need no sort.
        starts: np.ndarray | None = None
        for k, (word, found) in enumerate(zip(words, postings, strict=True)):
            at = self.cache.positions(reader, word)
            where = np.searchsorted(found.ids, candidates)
            first = at.starts[where]
            counts = at.starts[where + 1] - first
            runs = np.cumsum(counts) - counts
            gather = np.repeat(first - runs, counts) + np.arange(int(counts.sum()))
            begins = at.flat[gather].astype(np.int64) - k
            keys = np.repeat(np.arange(candidates.size, dtype=np.int64), counts) * _STRIDE + begins
            keys = keys[begins >= 0]
            starts = keys if starts is None else _common(starts, keys)
            if not starts.size:
                return np.zeros(0, dtype=np.int32)
        assert starts is not None
        # Ascending keys: a candidate's starts are side by side; keep its first.
        owners = starts // _STRIDE
        first = np.ones(owners.size, dtype=bool)
        first[1:] = owners[1:] != owners[:-1]
        return candidates[owners[first]].astype(np.int32)
