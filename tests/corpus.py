"""A synthetic corpus for cost tests: many passages over a large vocabulary, made in seconds."""

from __future__ import annotations

import random
import string
from pathlib import Path

# Common words give every query something to rank; the generated ones give the lexicon the size of
# a real corpus's (a one-letter prefix then spans thousands of words).
COMMON = [
    "oil",
    "trade",
    "ministry",
    "officials",
    "security",
    "border",
    "police",
    "cartel",
    "migration",
    "talks",
    "election",
    "government",
    "minister",
    "reported",
    "agreement",
    "exports",
    "prices",
    "market",
    "bank",
    "shipping",
    "port",
    "customs",
]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = string.ascii_lowercase
    words = {"".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(size)}
    return sorted(words)


def write_corpus(
    folder: Path, documents: int, paragraphs: int = 10, words: int = 60, seed: int = 17
) -> Path:
    """Write `documents` text files of `paragraphs` paragraphs of `words` words each."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 20_000)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(documents):
        lines = [f"Synthetic report number {n}", ""]
        for _ in range(paragraphs):
            chosen = [
                rng.choice(COMMON if rng.random() < 0.2 else vocabulary) for _ in range(words)
            ]
            lines.append(" ".join(chosen).capitalize() + ".")
            lines.append("")
        (folder / f"doc{n:05d}.txt").write_text("\n".join(lines), encoding="utf-8")
    return folder
