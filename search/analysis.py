"""Analyzers shared by the index and query sides."""

from functools import lru_cache

import Stemmer
from whoosh.analysis import STOP_WORDS, Analyzer, StemmingAnalyzer


@lru_cache(maxsize=1)
def _snowball_english() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def snowball_stems(words: list[str]) -> list[str]:
    """English Snowball stems of many words in one C call (the evaluation's baseline uses it)."""
    return [str(w) for w in _snowball_english().stemWords(words)]


def snowball_stem(word: str) -> str:
    """English Snowball (Porter 2) stem, in C: better stems and faster than Whoosh's Porter."""
    return str(_snowball_english().stemWord(word))


def text_analyzer() -> Analyzer:
    """English analyzer for passage text and titles: tokenize, lowercase, stop words, stems."""
    # "us" is no stop word here: lowercased, it is how "US" (the country) reaches the index.
    return StemmingAnalyzer(stoplist=STOP_WORDS - {"us"}, stemfn=snowball_stem, cachesize=-1)
