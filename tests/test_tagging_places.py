"""Places below the country, datelines and capitals: the ambiguous cases an analyst would check."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.tagging import CountryTagger, country_tagger, places
from index.tagging.subjects import find_dateline


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Georgia: the US state unless the text is about the Caucasus.
        ("Georgia voters went to the polls in Atlanta.", ["US"]),
        ("Protesters gathered in Georgia, where Tbilisi police...", ["GE"]),
        ("Michael Jordan visited Atlanta, Georgia.", ["US"]),
        # A city qualified by its state or country takes that country.
        ("Paris, Texas", ["US"]),
        ("Paris and Lyon", ["FR"]),
        ("Cambridge, Mass.", ["US"]),
        ("Cambridge", ["GB"]),
        ("Researchers at Harvard in Cambridge", ["US"]),
        # Santiago: Chile by default; Compostela, the Dominican Republic by context.
        ("Santiago", ["CL"]),
        ("Flights to Santiago de Compostela", ["ES"]),
        ("Santiago, the second city of the Dominican Republic", ["DO"]),
        # San José: Costa Rica's capital unless California is the setting.
        ("San José", ["CR"]),
        ("San Jose, Calif.", ["US"]),
        ("Apple in San Jose and Silicon Valley", ["US"]),
        # Córdoba: Argentina's city unless Spain (or Mexico) is the setting.
        ("Córdoba", ["AR"]),
        ("Córdoba, near Seville in Spain", ["ES"]),
        # Granada: Spain's unless Nicaragua is the setting.
        ("Granada", ["ES"]),
        ("Granada, on Lake Nicaragua", ["NI"]),
        # Washington the US government; Jordan and Chad as first names.
        ("Washington warned Beijing", ["US", "CN"]),
        ("Jordan Henderson scored", []),
        ("Chad Smith said", []),
        ("Jordan and Chad signed", ["JO", "TD"]),
        # Cities that are common words only count in a dateline or qualified by a region.
        ("Split is a good idea", []),
        ("A Nice idea", []),
        ("Mobile phones", []),
        ("Reading the report", []),
        ("Reading, Pa.", ["US"]),
        ("Mobile, Ala.", ["US"]),
        # States: names, AP and older wire abbreviations, postal codes after a place.
        ("Darien, Conn.", ["US"]),
        ("Middleburg, Pa.", ["US"]),
        ("Woodco Inc of Houston, Tex.", ["US"]),
        ("Darien, CT", ["US"]),
        ("New Mexico", ["US"]),
        ("Miss. Smith and Pa. alone", []),
        # Canadian provinces and other divisions; world cities and English exonyms.
        ("Calgary, Alberta", ["CA"]),
        ("Ontario", ["CA"]),
        ("MONTREAL, Que.", ["CA"]),
        ("Salvador, Bahia", ["BR"]),
        ("Frankfurt bankers", ["DE"]),
        ("Cologne and Zurich", ["DE", "CH"]),
        ("Bank of Tokyo", ["JP"]),
    ],
)
def test_places(text: str, expected: list[str]) -> None:
    assert country_tagger().tag(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SAUDI RENEGOTIATION OF ARAMCO DEAL", ["SA"]),
        ("U.S. TRADE DEFICIT WIDENS", ["US"]),
        ("TAIWAN'S EXPORTS RISE", ["TW"]),
        ("WEST GERMAN BANKS", ["DE"]),
        ("COSTA RICA in capitals", ["CR"]),
        ("NEW YORK, June 1 -", ["US"]),
        # False friends in capitals: only when the text names the country in ordinary case.
        ("CHAD SIGNS ACCORD", []),
        ("CHAD SIGNS ACCORD\nChad's government signed it.", ["TD"]),
        ("TURKEY PRICES RISE", []),
        ("JORDAN SCORES 40", []),
        ("It costs US$ 5 mln", []),
        ("GAINS IN OR NEAR PORTS", []),
        ("LET US TALK", []),
        # A lone acronym in ordinary prose is not title-cased into a place.
        ("The NICE guidance", []),
    ],
)
def test_capitals(text: str, expected: list[str]) -> None:
    assert country_tagger().tag(text) == expected


@pytest.mark.parametrize(
    ("text", "place", "code", "agency"),
    [
        ("DARIEN, Conn., March 13 -\nAcme Inc said", "DARIEN, Conn.", "US", None),
        ("NEW YORK, June 1 - Acme Inc said", "NEW YORK", "US", None),
        ("TAIPEI (Taiwan News) — Costa Rica sent officials", "TAIPEI", "TW", "Taiwan News"),
        ("Tokyo (Reuters) - Japan's exports rose", "Tokyo", "JP", "Reuters"),
        ("LONDON, MARCH 26 -\nCocoa prices", "LONDON", "GB", None),
        # A small town: found in the whole gazetteer, not only the cities named in running text.
        ("LUGANO, March 3 -\nA Swiss bank", "LUGANO", "CH", None),
        ("Lugano, March 3 - A Swiss bank", "Lugano", "CH", None),
        ("San Jose, Calif., March 3 - Acme", "San Jose, Calif.", "US", None),
        ("SPLIT, Croatia, May 3 - The port", "SPLIT, Croatia", "HR", None),
        # Wire typos and variants: odd-case months, no day, no full stop, umlauts spelt out.
        ("WEST HARTFORD, Conn., FEb 26 -\nColeco said", "WEST HARTFORD, Conn.", "US", None),
        ("BOSTON, Mass, APril 3 -\nCopley said", "BOSTON, Mass", "US", None),
        ("SYDNEY, April -\nQantas said", "SYDNEY", "AU", None),
        ("DUESSELDORF, April 2 -\nA bank", "DUESSELDORF", "DE", None),
        ("ST LOUIS, April 1 -\nA brewer", "ST LOUIS", "US", None),
    ],
)
def test_datelines(text: str, place: str, code: str, agency: str | None) -> None:
    dateline = find_dateline(text, country_tagger())
    assert dateline is not None
    assert (dateline.place, dateline.code, dateline.agency) == (place, code, agency)
    assert text[dateline.start : dateline.end] == place


@pytest.mark.parametrize(
    "text",
    [
        "Costa Rica - Taiwan ties grow",  # ordinary case, no agency or date: a sentence
        "The report - released today - said",
        "ACME SAYS PROFIT ROSE - ANALYSTS",
    ],
)
def test_not_datelines(text: str) -> None:
    assert find_dateline(text, country_tagger()) is None


def test_dateline_place_tags_passage() -> None:
    # A passage with only a dateline still concerns its country.
    assert country_tagger().tag("COMMACK, N.Y., Feb 26 -\nComputer Terminal Systems said") == ["US"]


def test_match_rules_name_the_evidence() -> None:
    text = "PARIS, Texas, and Frankfurt bankers met Chinese officials in Beijing."
    found = [(m.alias, m.code, m.rule) for m in country_tagger().matches(text)]
    assert found == [
        ("PARIS", "US", "place, region"),
        ("Texas", "US", "state → country"),
        ("Frankfurt", "DE", "city → country"),
        ("Chinese", "CN", "demonym"),
        ("Beijing", "CN", "capital"),
    ]


def test_gazetteer_cache_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls: list[int] = []

    def build() -> list[list[object]]:
        calls.append(1)
        return [["Darien", "US"], ["Lugano", "CH"]]

    assert places.json_cached("demo", build) == [["Darien", "US"], ["Lugano", "CH"]]
    assert places.json_cached("demo", build) == [["Darien", "US"], ["Lugano", "CH"]]
    assert len(calls) == 1
    (path,) = (tmp_path / "briefing-search").glob("demo-*.json")
    path.write_text("{not json", encoding="utf-8")
    assert places.json_cached("demo", build) == [["Darien", "US"], ["Lugano", "CH"]]
    assert len(calls) == 2
    # Other inputs, another file; the stale one goes.
    places.json_cached("demo", build, extra="other")
    assert len(list((tmp_path / "briefing-search").glob("demo-*.json"))) == 1


def test_tagger_from_cache_equals_fresh_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = CountryTagger()
    assert {p.name.split("-")[0] for p in (tmp_path / "briefing-search").iterdir()} == {
        "generated",
        "places",
    }
    cached = CountryTagger()
    assert cached.aliases == fresh.aliases
    assert cached.tag("DARIEN, Conn., March 13 - Georgia and Frankfurt") == ["US", "DE"]
