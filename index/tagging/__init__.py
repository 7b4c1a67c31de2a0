"""Taggers: the countries (ISO 3166-1 alpha-2) and topics a passage concerns.

Nothing is built at import time: the factories below build each tagger (one compiled regex, one
term index) on first use and cache it for the process.
"""

from __future__ import annotations

from functools import lru_cache

from index.tagging.countries import CountryTagger
from index.tagging.topics import TopicTagger

__all__ = ["CountryTagger", "TopicTagger", "country_tagger", "topic_tagger"]


@lru_cache(maxsize=1)
def country_tagger() -> CountryTagger:
    """The shared CountryTagger, built once per process from its data files."""
    return CountryTagger()


@lru_cache(maxsize=1)
def topic_tagger() -> TopicTagger:
    """The shared TopicTagger, built once per process from its data file."""
    return TopicTagger()
