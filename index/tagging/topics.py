"""Topic tagging: weighted terms from the taxonomy data file, summed per topic, thresholded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TOPICS_FILE = Path(__file__).parent / "topics.json"

_TOKEN = re.compile(r"[^\W_]+")


def fold(token: str, unfolded: frozenset[str] = frozenset()) -> str:
    """Light English plural folding of a lowercased token ("" for a lone possessive "s")."""
    if token in unfolded:
        return token
    n = len(token)
    if n <= 3:
        # Too short to fold safely ("gas", "bus"); the "s" left by splitting "China’s" goes.
        return "" if token == "s" else token
    if token.endswith("ies") and n > 4:
        return token[:-3] + "y"
    if token.endswith("sses"):
        return token[:-2]
    if token.endswith(("ches", "shes", "xes", "zzes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@dataclass(frozen=True)
class Topic:
    """One taxonomy entry."""

    id: str
    label: str
    threshold: float


class TopicTagger:
    """Scores a text against the topic taxonomy data file."""

    labels: dict[str, str]

    def __init__(self, topics_file: Path = TOPICS_FILE):
        data: dict[str, Any] = json.loads(topics_file.read_text(encoding="utf-8"))
        unfolded = frozenset(data.get("unfolded", []))
        default = float(data["threshold"])
        self._topics = [
            Topic(t["id"], t["label"], float(t.get("threshold", default))) for t in data["topics"]
        ]
        self.labels = {t.id: t.label for t in self._topics}

        # Cached per process: passages repeat the same words, and folding is pure.
        @lru_cache(maxsize=200_000)
        def fold_cached(token: str) -> str:
            return fold(token, unfolded)

        self._fold = fold_cached
        # phrase (folded tokens) -> [(topic index, weight)], then indexed by first token with the
        # longest phrases first so the scan can stop at the first hit.
        phrases: dict[tuple[str, ...], list[tuple[int, float]]] = {}
        for i, topic in enumerate(data["topics"]):
            for term, weight in topic["terms"].items():
                key = self._normalize(term)
                if not key:
                    raise ValueError(f"topic {topic['id']}: empty term {term!r}")
                phrases.setdefault(key, []).append((i, float(weight)))
        index: dict[str, list[tuple[tuple[str, ...], list[tuple[int, float]]]]] = {}
        for key, contributions in phrases.items():
            index.setdefault(key[0], []).append((key, contributions))
        for entries in index.values():
            entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._index = index

    def _normalize(self, text: str) -> tuple[str, ...]:
        """Lowercase, tokenize and fold text; empty tokens dropped."""
        # filter/map keep the loop in C: this runs once per passage.
        return tuple(filter(None, map(self._fold, _TOKEN.findall(text.lower()))))

    def scores(self, text: str) -> dict[str, float]:
        """Summed evidence per topic id (topics with no evidence omitted)."""
        tokens = self._normalize(text)
        index = self._index
        totals = [0.0] * len(self._topics)
        hit = False
        i, n = 0, len(tokens)
        while i < n:
            entries = index.get(tokens[i])
            if entries is None:
                i += 1
                continue
            step = 1
            for key, contributions in entries:
                k = len(key)
                if k == 1 or tokens[i : i + k] == key:
                    for t, w in contributions:
                        totals[t] += w
                    hit = True
                    step = k
                    break
            i += step
        if not hit:
            return {}
        return {self._topics[t].id: s for t, s in enumerate(totals) if s > 0}

    def tag(self, text: str) -> list[str]:
        """Return topic ids whose evidence passes the threshold, strongest first."""
        scores = self.scores(text)
        if not scores:
            return []
        order = {t.id: i for i, t in enumerate(self._topics)}
        passed = [t.id for t in self._topics if scores.get(t.id, 0.0) >= t.threshold]
        # Strongest first; the taxonomy order breaks ties so output is deterministic.
        return sorted(passed, key=lambda tid: (-scores[tid], order[tid]))

    def evidence(self, text: str) -> list[dict[str, Any]]:
        """Each counted term occurrence: span, matched term, topic id and weight (explain)."""
        fold_ = self._fold
        tokens: list[tuple[str, int, int]] = []
        for m in _TOKEN.finditer(text):
            folded = fold_(m.group().lower())
            if folded:
                tokens.append((folded, m.start(), m.end()))
        words = tuple(t for t, _, _ in tokens)
        out: list[dict[str, Any]] = []
        i, n = 0, len(words)
        # The same longest-phrase-first scan as scores(), keeping where each hit was.
        while i < n:
            entries = self._index.get(words[i])
            step = 1
            for key, contributions in entries or ():
                k = len(key)
                if k == 1 or words[i : i + k] == key:
                    start, end = tokens[i][1], tokens[i + k - 1][2]
                    for t, w in contributions:
                        out.append(
                            {
                                "topic": self._topics[t].id,
                                "start": start,
                                "end": end,
                                "text": text[start:end],
                                "term": " ".join(key),
                                "weight": w,
                            }
                        )
                    step = k
                    break
            i += step
        return out
