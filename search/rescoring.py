"""Semantic rescoring, like Elasticsearch's `rescore`: re-rank the top BM25 hits by meaning.

The top RESCORE_WINDOW passages by BM25 are re-ranked by BM25 + RESCORE_WEIGHT x (best BM25 in
the window) x the cosine similarity of query and passage embeddings. Passages past the window
keep BM25 order, below the window, so scores still fall page after page (docs/relevance.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from search.embedding import Encoder
from search.snapshots import Snapshot

RESCORE_WINDOW = 100
RESCORE_WEIGHT = 2.0
# Query embeddings remembered per rescorer (paging and facet clicks repeat the query).
QUERY_VECTOR_CACHE = 256


@dataclass(frozen=True)
class SemanticPart:
    """What rescoring added to a passage: weight x cosine similarity, on top of its BM25."""

    bm25: float
    similarity: float
    weight: float
    score: float


class Rescorer:
    """Re-ranks a BM25 ranking's window with passage embeddings; the encoder loads on first use."""

    def __init__(self, encoder: Callable[[], Encoder]) -> None:
        self._encoder = encoder
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def rescore(
        self, snapshot: Snapshot, text: str, ranking: list[tuple[int, float]]
    ) -> tuple[list[tuple[int, float]], bool, dict[int, SemanticPart]]:
        """The ranking with its first RESCORE_WINDOW passages re-ranked, whether it was, and
        each rescored passage's semantic part (for `explain`).

        An index built without embeddings ranks by BM25 alone.
        """
        window = ranking[:RESCORE_WINDOW]
        docnums = np.array([d for d, _ in window], dtype=np.int64)
        vectors, present = snapshot.embeddings(docnums.tolist())
        if not window or not present.any():
            return ranking, False, {}
        bm25 = np.array([s for _, s in window], dtype=np.float64)
        similarity = np.clip(vectors @ self.query_vector(text), 0.0, None)
        similarity[~present] = 0.0
        # Scaled by the window's best BM25 so the weight means the same for every query, and
        # never below the passage's own BM25, so the window stays above the passages after it.
        weight = RESCORE_WEIGHT * float(bm25.max())
        fused = bm25 + weight * similarity
        order = np.lexsort((docnums, -fused))
        rescored = [(int(docnums[i]), float(fused[i])) for i in order]
        parts = {
            int(docnums[i]): SemanticPart(
                bm25=float(bm25[i]),
                similarity=round(float(similarity[i]), 4),
                weight=round(weight, 4),
                score=round(weight * float(similarity[i]), 4),
            )
            for i in range(len(window))
        }
        return rescored + ranking[RESCORE_WINDOW:], True, parts

    def query_vector(self, text: str) -> np.ndarray:
        """The query's embedding, remembered for repeats."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                return vector
        vector = self._encoder().encode([text])[0]
        with self._lock:
            self._vectors[text] = vector
            if len(self._vectors) > QUERY_VECTOR_CACHE:
                self._vectors.popitem(last=False)
        return vector
