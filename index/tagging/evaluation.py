"""Country tagging measured against gold labels: `briefing eval-tags`.

The gold file has one JSON object a line in the layout of
../shared/eval/reuters-places-train/articles.jsonl: `id`, `title`, `dateline`, `body` and
`countries` (the ISO codes the article is about). Each article is tagged as the document
`title + "\\n" + dateline + "\\n" + body`; precision, recall and F1 are micro-averaged over
articles (true and false positives and false negatives summed before dividing).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.tagging.subjects import analyze


@dataclass
class Score:
    """Micro-averaged counts of one tag set against the gold labels."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: Counter[str] = field(default_factory=Counter)
    false_negatives: Counter[str] = field(default_factory=Counter)

    def add(self, predicted: Iterable[str], gold: Iterable[str]) -> None:
        """Count one article's predicted codes against its gold codes."""
        p, g = set(predicted), set(gold)
        self.tp += len(p & g)
        self.fp += len(p - g)
        self.fn += len(g - p)
        self.false_positives.update(p - g)
        self.false_negatives.update(g - p)

    @property
    def precision(self) -> float:
        """tp / (tp + fp), 0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn), 0 when there is nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        """Figures rounded to four places, with the `top` most frequent errors."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "false_positives": [[c, n] for c, n in self.false_positives.most_common(top)],
            "false_negatives": [[c, n] for c, n in self.false_negatives.most_common(top)],
        }


def read_gold(path: Path) -> Iterator[tuple[str, str, list[str]]]:
    """Yield (id, document text, gold codes) per line; a malformed line raises with its number."""
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                codes = obj["countries"]
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise TypeError("countries must be a list of codes")
                text = "\n".join(str(obj.get(k) or "") for k in ("title", "dateline", "body"))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
            yield str(obj.get("id", lineno)), text, codes


def evaluate(path: Path, top: int = 10) -> dict[str, Any]:
    """Score subject_countries and countries against the gold file's countries."""
    subjects, everything = Score(), Score()
    articles = 0
    started = time.perf_counter()
    for _, text, gold in read_gold(path):
        analysis = analyze(text)
        subjects.add(analysis.subject_countries, gold)
        everything.add(analysis.countries, gold)
        articles += 1
    return {
        "gold": str(path),
        "articles": articles,
        "subject_countries": subjects.as_dict(top),
        "countries": everything.as_dict(top),
        "seconds": round(time.perf_counter() - started, 2),
    }


def format_report(result: dict[str, Any]) -> str:
    """The figures of `evaluate` as a few readable lines."""
    lines = [f"{result['articles']} articles from {result['gold']} ({result['seconds']} s)"]
    for key in ("subject_countries", "countries"):
        s = result[key]
        lines.append(
            f"{key:<18} precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
            f"F1 {s['f1']:.3f}  (tp {s['tp']}, fp {s['fp']}, fn {s['fn']})"
        )
        for label in ("false_positives", "false_negatives"):
            pairs = ", ".join(f"{c} {n}" for c, n in s[label]) or "none"
            lines.append(f"  {label.replace('_', ' ')}: {pairs}")
    return "\n".join(lines)
