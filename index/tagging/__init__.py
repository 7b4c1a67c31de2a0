"""Taggers: the countries (ISO 3166-1 alpha-2) and topics a passage concerns. (Stub: being written.)"""

from __future__ import annotations

from functools import lru_cache


class CountryTagger:
    """Finds the countries a text names or is about, from the alias data file."""

    def tag(self, text: str) -> list[str]:
        """Return alpha-2 codes in order of first mention."""
        raise NotImplementedError


class TopicTagger:
    """Scores a text against the topic taxonomy data file."""

    labels: dict[str, str]

    def tag(self, text: str) -> list[str]:
        """Return topic ids whose evidence passes the threshold, strongest first."""
        raise NotImplementedError


@lru_cache(maxsize=1)
def country_tagger() -> CountryTagger:
    """The shared CountryTagger, built once per process from its data file."""
    return CountryTagger()


@lru_cache(maxsize=1)
def topic_tagger() -> TopicTagger:
    """The shared TopicTagger, built once per process from its data file."""
    return TopicTagger()
