"""Chunking: paragraph-aware passages over the body, checked on the seeds and on edge cases."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from index.chunking import MAX_WORDS, MIN_WORDS, chunk_text, count_words
from index.metadata import extract_metadata
from index.model import Span

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
ITEM_OR_ROW = re.compile(r"\s*(?:[-*+•◦‣▪–]|\d{1,3}[.)])\s|.*\|")
FINAL = re.compile(r"[.!?…,;:][\"'”’)\]»]*$")
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]»]*$")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def texts(text: str, spans: list[Span]) -> list[str]:
    return [text[s.start : s.end] for s in spans]


def looks_like_heading(line: str) -> bool:
    line = line.strip()
    return count_words(line) <= 15 and not FINAL.search(line) and not ITEM_OR_ROW.match(line)


@pytest.fixture(params=SEEDS, ids=lambda p: p.name[:3])
def seed(request: pytest.FixtureRequest) -> tuple[str, list[Span], list[Span]]:
    text = read(request.param)
    skip = extract_metadata(text).skip
    return text, skip, chunk_text(text, skip)


def test_offsets_round_trip_trimmed_and_ordered(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    assert spans
    for span in spans:
        passage = text[span.start : span.end]
        assert passage == passage.strip() and passage
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_every_body_character_in_exactly_one_passage(
    seed: tuple[str, list[Span], list[Span]],
) -> None:
    text, skip, spans = seed
    owners = [0] * len(text)
    for span in spans:
        for i in range(span.start, span.end):
            owners[i] += 1
    skipped = [False] * len(text)
    for span in skip:
        for i in range(span.start, span.end):
            skipped[i] = True
            assert owners[i] == 0, f"passage overlaps skip span {text[span.start : span.end]!r}"
    for i, char in enumerate(text):
        if not char.isspace() and not skipped[i]:
            assert owners[i] == 1, f"character {i} ({text[i - 20 : i + 20]!r}) not in one passage"


def test_passage_sizes_within_bounds(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    sizes = [count_words(p) for p in texts(text, spans)]
    assert all(MIN_WORDS <= size <= MAX_WORDS for size in sizes), sizes


def test_headings_start_passages_never_end_them(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    for passage in texts(text, spans):
        assert not looks_like_heading(passage.splitlines()[-1]), passage[-200:]


def test_no_sentence_is_split(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    for passage in texts(text, spans):
        last = passage.splitlines()[-1]
        assert SENTENCE_END.search(passage) or ITEM_OR_ROW.match(last), passage[-200:]
        first = passage.lstrip("\"'“‘([«")[:1]
        assert first.isupper() or first.isdigit() or ITEM_OR_ROW.match(passage), passage[:100]


def test_boilerplate_never_in_a_passage(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    for passage in texts(text, spans):
        for furniture in ("0 Comments", "image source from", "Write a comment", "Required fields"):
            assert furniture not in passage


def test_seed_000_sections_start_with_their_heading() -> None:
    text = read(SEEDS[0])
    passages = texts(text, chunk_text(text, extract_metadata(text).skip))
    starts = [p.splitlines()[0] for p in passages]
    assert "Combating Organized Crime" in starts
    # The list stays with its intro line.
    (organized,) = [p for p in passages if p.startswith("Combating Organized Crime")]
    assert "including:\n- Involvement of DEA" in organized
    assert "- Waivers to unfreeze certain aid related to law enforcement" in organized


def test_seed_004_table_stays_together_with_its_heading() -> None:
    text = read(SEEDS[4])
    passages = texts(text, chunk_text(text, extract_metadata(text).skip))
    (table,) = [p for p in passages if "Country | Focal Areas |" in p]
    assert table.startswith("Diplomatic Engagements and Itinerary\nCountry | Focal Areas |")
    assert "Dominican Rep. | Haiti crisis response, counter-narcotics |" in table


def test_long_paragraph_splits_at_sentences() -> None:
    sentences = [
        f"Sentence {n} says the U.S. envoy met Mr. Ruiz in Quito today." for n in range(60)
    ]
    text = " ".join(sentences)
    spans = chunk_text(text, [])
    assert len(spans) > 1
    for passage in texts(text, spans):
        assert MIN_WORDS <= count_words(passage) <= MAX_WORDS
        assert passage.startswith("Sentence ") and passage.endswith("today.")


def test_single_long_sentence_may_exceed_max() -> None:
    text = "Heading Line\n" + " ".join(["word"] * 250) + "."
    assert texts(text, chunk_text(text, [])) == [text]


def test_tiny_document_is_one_passage() -> None:
    text = "Short Note\n\nOne line.\n\n- a point\n- another point\n"
    assert chunk_text(text, []) == [Span(0, len(text.rstrip()))]


def test_short_paragraphs_are_merged() -> None:
    paragraphs = [f"Paragraph {n} is short but complete." for n in range(12)]
    text = "\n\n".join(paragraphs)
    spans = chunk_text(text, [])
    assert len(spans) == 1 and count_words(text[spans[0].start : spans[0].end]) == 72


def test_hard_wrapped_text_is_not_cut_mid_sentence() -> None:
    paragraph = " ".join(
        f"The delegation number {n} travelled from Panama to Guatemala and discussed"
        " migration, security and trade with local officials."
        for n in range(30)
    )
    text = textwrap.fill(paragraph, width=70)
    spans = chunk_text(text, [])
    assert len(spans) > 1
    for passage in texts(text, spans):
        assert passage.startswith("The delegation") and passage.endswith("officials.")
        assert count_words(passage) <= MAX_WORDS


def test_skip_spans_split_and_are_left_out() -> None:
    body = "Officials met today and agreed on many things of great importance to all. " * 6
    text = f"{body.strip()}\nShare this\n{body.strip()}"
    start = text.index("Share this")
    skip = [Span(start, start + len("Share this"))]
    spans = chunk_text(text, skip)
    assert all(s.end <= skip[0].start or s.start >= skip[0].end for s in spans)
    assert "".join(texts(text, spans)).count("Officials met today") == 12


def test_counts_words_not_punctuation() -> None:
    assert count_words("- one — two | three 4 | ---|---|") == 4


def test_seed_passages_end_at_paragraph_breaks(seed: tuple[str, list[Span], list[Span]]) -> None:
    text, _, spans = seed
    # No seed paragraph is over MAX_WORDS, so no passage needs to end inside one.
    for before, after in zip(spans, spans[1:], strict=False):
        assert "\n" in text[before.end : after.start]


def test_heading_goes_with_what_follows_even_if_a_short_passage_results() -> None:
    # 38 + 2 words would make a full-sized passage; the heading must still not end it.
    lead = "The talks began on time. " + " ".join(["Officials"] * 32) + " spoke first."
    body = "The ministers " + " ".join(["agreed"] * 170) + " at length."
    text = f"{lead}\nSecurity Talks\n{body}"
    assert texts(text, chunk_text(text, [])) == [lead, f"Security Talks\n{body}"]
