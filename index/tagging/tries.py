"""Alternations of many words shaped as character tries, which re scans quickly."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any


def trie_regex(words: Iterable[str] | Mapping[str, str]) -> str:
    """A regex matching any of words, each followed by its tail when words maps word -> tail.

    Shaped as a character trie, re tries one branch per character instead of every word in
    turn. Where a word ends inside a longer one the longer is tried first ("taxes" before
    "tax"): the overall match is the longest that also satisfies what follows the pattern. Words
    without a tail end in character classes and optional groups; a word's tail (a regex) is
    tried after every longer word.
    """
    tails = words if isinstance(words, Mapping) else dict.fromkeys(words, "")
    root: dict[str, Any] = {}
    for word, tail in tails.items():
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = tail
    return _build(root) or "(?!)"


def _build(node: dict[str, Any]) -> str | None:
    """The regex of a trie node; None for a word end with no tail and nothing after it."""
    branches: list[str] = []
    leaves: list[str] = []
    for ch in sorted(k for k in node if k):
        sub = _build(node[ch])
        if sub is None:
            leaves.append(re.escape(ch))
        else:
            branches.append(re.escape(ch) + sub)
    if leaves:
        branches.append(leaves[0] if len(leaves) == 1 else "[" + "".join(leaves) + "]")
    tail = node.get("")
    if not branches:
        return tail or None
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if tail is None:
        return body
    if tail == "":
        return f"(?:{body})?"
    return "(?:" + "|".join([*branches, tail]) + ")"
