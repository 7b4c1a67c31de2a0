"""The character-trie alternations behind the country and topic taggers' scans."""

from __future__ import annotations

import re

from index.tagging.tries import trie_regex


def test_a_trie_matches_exactly_its_words_longest_first() -> None:
    words = ["tax", "taxes", "tan", "oil"]
    pattern = re.compile(trie_regex(words))
    assert [w for w in [*words, "ta", "taxe", "oils", "t"] if pattern.fullmatch(w)] == words
    # Where a word ends inside a longer one the longer is tried first.
    assert pattern.match("taxes cut").group() == "taxes"
    assert re.compile(f"(?:{trie_regex(words)})(?!\\w)").match("taxe cut") is None


def test_tails_follow_their_own_word_and_are_tried_after_longer_words() -> None:
    pattern = re.compile(trie_regex({"tax": "-X", "taxes": "-Y", "oil": ""}))
    assert [m.group() for m in pattern.finditer("taxes-Y tax-X tax-Y taxes-X oil")] == [
        "taxes-Y",
        "tax-X",
        "oil",
    ]


def test_no_words_match_nothing() -> None:
    assert re.compile(trie_regex([])).search("anything at all") is None
