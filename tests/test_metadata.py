"""Metadata: title, date, source and byline found the way a reader would, on the real seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.metadata import extract_metadata, parse_date
from index.model import Metadata

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def skipped(text: str, metadata: Metadata) -> list[str]:
    return [text[span.start : span.end] for span in metadata.skip]


@pytest.mark.parametrize(
    ("prefix", "title", "date", "source", "byline"),
    [
        (
            "000",
            "US Secretary of State Rubio Announces Enhanced Cooperation with Costa Rica on"
            " Cyber Security, Crime, and Migration",
            None,
            "US Department of State",
            None,
        ),
        (
            "001",
            "Marco Rubio heads to Costa Rica and Guatemala after high-stakes El Salvador"
            " migration deal",
            None,
            None,
            "Zander Hawthorne",
        ),
        (
            "002",
            "Costa Rica reportedly has sent officials to Taiwan for intelligence and security"
            " training…",
            None,
            "Taiwan News",
            None,
        ),
        (
            "003",
            "US Secretary of State Marco Rubio Strengthens Security Ties During Tour in Mexico"
            " and Ecuador",
            "2025-11-02",
            "Atlantic Council",
            "Benjamin Clarke",
        ),
        (
            "004",
            "Strengthening U.S.-Latin America Relations Through Diplomacy",
            None,
            "THX News",
            None,
        ),
    ],
)
def test_seed_metadata(
    prefix: str, title: str, date: str | None, source: str | None, byline: str | None
) -> None:
    metadata = extract_metadata(seed(prefix))
    assert (metadata.title, metadata.date, metadata.source, metadata.byline) == (
        title,
        date,
        source,
        byline,
    )


def test_repeated_title_byline_and_comment_form_are_skipped() -> None:
    text = seed("001")
    title = (
        "Marco Rubio heads to Costa Rica and Guatemala after high-stakes El Salvador migration deal"
    )
    heading = (
        "El Salvador’s offer to hold foreign deportees — and U.S. convicts — resets the debate"
    )
    assert skipped(text, extract_metadata(text)) == [
        title,
        title,
        "Zander Hawthorne Sep 9 0 Comments",
        heading,
        "Write a comment",
        "Your email address will not be published. Required fields are marked *",
        "*",
    ]
    # Only the first copy of the doubled heading goes: the second stays with its section.
    assert text.count(heading) == 2
    first_copy = text.index(heading)
    assert extract_metadata(text).skip[3].start == first_copy


def test_weekday_date_and_signature_lines_are_skipped() -> None:
    text = seed("003")
    assert skipped(text, extract_metadata(text)) == [
        "Sunday",
        "11-02-2025 Vol 2132",
        "US Secretary of State Marco Rubio Strengthens Security Ties During Tour in Mexico and Ecuador",
        "image source from:atlanticcouncil",
        "Benjamin Clarke",
    ]


def test_dates_written_with_letters_that_fold_to_ascii_are_read() -> None:
    # re.I matches the long s ("ſ") and the Kelvin sign to "s" and "k": lower() keeps them,
    # and the month or weekday look-up raised KeyError / ValueError on such a date line.
    text = "Trade talks resume\nſunday, 3 ſep 2024\n\n" + "Officials met to discuss tariffs. " * 5
    metadata = extract_metadata(text)
    assert metadata.title == "Trade talks resume"
    assert metadata.date == "2024-09-03"
    assert parse_date("ſeptember 3, 2024") == "2024-09-03"


def test_lead_is_not_skipped_when_title_is_derived() -> None:
    assert extract_metadata(seed("002")).skip == []


def test_sources_line_and_promo_are_skipped() -> None:
    text = seed("004")
    assert skipped(text, extract_metadata(text)) == [
        "Strengthening U.S.-Latin America Relations Through Diplomacy",
        "For more insights on U.S. foreign policy developments, stay informed with our breaking"
        " news and analysis.",
        "Sources: THX News & US Department of State.",
    ]


def test_skip_spans_are_sorted_trimmed_lines() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        spans = extract_metadata(text).skip
        assert spans == sorted(spans, key=lambda s: s.start)
        for span in spans:
            value = text[span.start : span.end]
            assert value == value.strip() and "\n" not in value and value


@pytest.mark.parametrize(
    ("text", "weekday", "expected"),
    [
        ("11-02-2025", 6, "2025-11-02"),  # Sunday: 2 November, not 11 February (a Tuesday)
        ("11-02-2025", 1, "2025-02-11"),
        ("11-02-2025", None, "2025-11-02"),  # nothing decides: month-first
        ("25/03/2025", None, "2025-03-25"),  # only day-first is a date
        ("March 3, 2025", None, "2025-03-03"),
        ("3 March 2025", None, "2025-03-03"),
        ("Sept. 9th, 2024", None, "2024-09-09"),
        ("2025-03-03T10:00:00Z", None, "2025-03-03"),
        ("Sep 9", None, None),  # no year: never guessed from the clock
        ("February 2024", None, None),
        ("31-02-2025", None, None),
    ],
)
def test_parse_date(text: str, weekday: int | None, expected: str | None) -> None:
    assert parse_date(text, weekday) == expected


def test_by_line_and_dated_header() -> None:
    text = (
        "Panama Talks Resume\n"
        "By Jane Doe | March 3, 2025\n\n"
        "Officials met in Panama City on June 14, 2024 to discuss the canal.\n"
    )
    metadata = extract_metadata(text)
    assert (metadata.title, metadata.date, metadata.byline) == (
        "Panama Talks Resume",
        "2025-03-03",
        "Jane Doe",
    )
    assert skipped(text, metadata) == ["Panama Talks Resume", "By Jane Doe | March 3, 2025"]


def test_dates_in_the_body_are_not_the_document_date() -> None:
    text = "Canal Talks\n\nOn March 3, 2025 the ministers met. Share this\n\nMore on 2025-04-01.\n"
    assert extract_metadata(text).date is None


def test_title_only_document_keeps_its_line_as_body() -> None:
    metadata = extract_metadata("Just A Heading\n")
    assert metadata.title == "Just A Heading"
    assert metadata.skip == []


def test_empty_text() -> None:
    assert extract_metadata("") == Metadata(title="")
