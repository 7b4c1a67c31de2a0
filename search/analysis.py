"""Analyzers shared by the index and query sides."""

from whoosh.analysis import Analyzer, StemmingAnalyzer


def text_analyzer() -> Analyzer:
    """English analyzer for passage text and titles: tokenize, lowercase, stop words, Porter stems."""
    return StemmingAnalyzer(cachesize=-1)
