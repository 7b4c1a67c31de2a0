"""Country and topic taggers: seed expectations, false friends, topics and `briefing tag --jsonl`."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from index.tagging import CountryTagger, TopicTagger, country_tagger, topic_tagger
from index.tagging.cli import tag_stream

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _seed_text(prefix: str) -> str:
    """The text of the seed file whose name starts with prefix."""
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def _document_tags(text: str) -> tuple[set[str], set[str]]:
    """Union of countries and topics over the document's lines, each tagged as a passage."""
    countries: set[str] = set()
    topics: set[str] = set()
    for line in re.split(r"\n", text):
        if line.strip():
            countries.update(country_tagger().tag(line))
            topics.update(topic_tagger().tag(line))
    return countries, topics


SEED_EXPECTATIONS = [
    ("000", {"US", "CR", "NI", "VE", "CU"}, {"cybersecurity", "organized-crime", "migration"}),
    ("001", {"US", "CR", "GT", "SV", "CN"}, {"migration", "china-influence"}),
    ("002", {"CR", "TW", "CN", "PA", "US"}, {"cybersecurity", "china-influence"}),
    ("003", {"US", "MX", "EC", "VE", "CO"}, {"organized-crime", "migration", "trade"}),
    (
        "004",
        {"US", "PA", "SV", "CR", "GT", "DO", "HT", "CN"},
        {"china-influence", "migration", "security"},
    ),
]

# Countries each seed genuinely names beyond the required ones; anything else is a false hit.
SEED_ALLOWED_EXTRA = {"001": {"MX", "PA", "TW"}, "003": {"CN"}}


@pytest.mark.parametrize(("prefix", "countries", "topics"), SEED_EXPECTATIONS)
def test_seed_documents(prefix: str, countries: set[str], topics: set[str]) -> None:
    found_countries, found_topics = _document_tags(_seed_text(prefix))
    assert found_countries >= countries
    assert found_countries - countries <= SEED_ALLOWED_EXTRA.get(prefix, set())
    assert found_topics >= topics
    assert "DM" not in found_countries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # US states and a basketball player: no Georgia (GE), no Jordan (JO); Georgia the state.
        ("Michael Jordan visited Atlanta, Georgia.", ["US"]),
        ("The Dominican Republic and Haiti", ["DO", "HT"]),
        ("Dominican officials met Haitian diplomats.", ["DO", "HT"]),
        ("Dominica's prime minister", ["DM"]),
        ("Papua New Guinea", ["PG"]),
        ("Guinea-Bissau, Equatorial Guinea and Guinea", ["GW", "GQ", "GN"]),
        ("A guinea pig in the Gulf of Guinea", []),
        ("turkey dinner", []),
        ("Turkey's president", ["TR"]),
        ("Costa Ricans and Nicaraguans", ["CR", "NI"]),
        ("Beijing protested", ["CN"]),
        ("San José", ["CR"]),
        ("San Jose responded", ["CR"]),
        ("San Jose, California", ["US"]),
        ("Estados Unidos, México, República Dominicana y Perú", ["US", "MX", "DO", "PE"]),
        ("Dominican Rep. and the Dominican Republic", ["DO"]),
        ("U.S. and US officials, but not us", ["US"]),
        ("USA and America", ["US"]),
        ("Latin America, Central America and the Inter-American Development Bank", []),
        ("The White House and the Kremlin", ["US", "RU"]),
        ("Washington said", ["US"]),
        ("Seattle, Washington and Washington state", ["US"]),
        ("George Washington", []),
        ("Acting Secretary Chad Wolf", []),
        ("Chad's government and Jordan's king", ["TD", "JO"]),
        ("Tbilisi accused Moscow over Georgia", ["GE", "RU"]),
        ("El Salvador, Salvadoran migrants and San Salvador", ["SV"]),
        ("Salvador, Bahia", ["BR"]),
        ("The Panama Canal and the Darién Gap", ["PA"]),
        ("Mexico City", ["MX"]),
        ("New Mexico", ["US"]),
        ("South Korea and North Korea", ["KR", "KP"]),
        ("Chinese vendors and Taiwanese firms", ["CN", "TW"]),
        ("People's Republic of China", ["CN"]),
        ("Quito, Havana, Caracas and Managua", ["EC", "CU", "VE", "NI"]),
        ("Mexican and Ecuadorian officials", ["MX", "EC"]),
        ("She speaks Spanish; the Spanish government", ["ES"]),
        ("A summary is available in Spanish.", []),
        ("Pressure to invest in Chinese projects", ["CN"]),
        ("Darien, Conn. and Luxembourg", ["US", "LU"]),
        ("Panama City, Florida and Lima, Ohio", ["US"]),
        ("Jordan Peterson on Turkey Day", []),
        ("Jordan Valley farmers", ["JO"]),
        ("A significant announcement from Palacio Nacional", []),
        ("the Budapest Convention on Cybercrime", []),
    ],
)
def test_country_cases(text: str, expected: list[str]) -> None:
    assert country_tagger().tag(text) == expected


def test_country_order_is_first_mention() -> None:
    assert country_tagger().tag("Cuba, then Venezuela, then Cuba and Nicaragua") == [
        "CU",
        "VE",
        "NI",
    ]


def test_case_sensitive_and_word_bounded() -> None:
    tagger = country_tagger()
    assert tagger.tag("china plates and a chile pepper") == []
    # Perugia is no Peru (and too small a city to name in running text); Chinatown is no China.
    assert tagger.tag("Chinatown and Perugia") == []


def test_factories_are_cached() -> None:
    assert country_tagger() is country_tagger()
    assert topic_tagger() is topic_tagger()
    assert isinstance(country_tagger(), CountryTagger)
    assert isinstance(topic_tagger(), TopicTagger)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Huawei was excluded from 5G networks after a wave of cyber attacks.",
            ["cybersecurity"],
        ),
        ("The Securities and Exchange Commission approved the filing.", []),
        ("Social security payments rose.", []),
        (
            "Migrants seeking asylum face deportation at the border.",
            ["migration"],
        ),
        ("Drug trafficking and organized crime fuel gang violence.", ["organized-crime"]),
        ("The drug maker won Food and Drug Administration approval.", []),
        ("Countering Chinese influence and Beijing's debt trap loans.", ["china-influence"]),
        ("They negotiated a free trade agreement cutting tariffs.", ["trade"]),
        ("Traders said trading was quiet.", []),
        ("Corruption and bribery undermine the rule of law.", ["governance"]),
        ("The navy deployed troops and drones to the base.", ["defense"]),
        ("Designated as foreign terrorist organizations.", ["terrorism"]),
        ("National security and public security are priorities.", ["security"]),
    ],
)
def test_topic_cases(text: str, expected: list[str]) -> None:
    assert topic_tagger().tag(text) == expected


def test_topics_strongest_first() -> None:
    text = "Cyber security and 5G vendors; migrants."
    scores = topic_tagger().scores(text)
    assert topic_tagger().tag(text) == ["cybersecurity", "migration"]
    assert scores["cybersecurity"] > scores["migration"]


def test_topic_labels() -> None:
    labels = topic_tagger().labels
    assert set(labels) == {
        "security",
        "organized-crime",
        "migration",
        "cybersecurity",
        "china-influence",
        "trade",
        "governance",
        "defense",
        "terrorism",
    }
    assert all(isinstance(v, str) and v for v in labels.values())


def test_tag_stream() -> None:
    lines = [
        json.dumps({"id": "a", "text": "Huawei and 5G in Costa Rica: cyber security first."}),
        "{not json",
        "",
        json.dumps({"id": 7, "text": "Turkey's president met Chinese officials."}),
        json.dumps(["a list"]),
        json.dumps({"id": "b"}),
    ]
    out = io.StringIO()
    count = tag_stream(lines, out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == 5
    assert records == [
        {
            "id": "a",
            "countries": ["CR"],
            "subject_countries": ["CR"],
            "topics": ["cybersecurity"],
        },
        {"id": None, "error": records[1]["error"]},
        # "Chinese officials" act in the story: Turkey is what it is about.
        {"id": 7, "countries": ["TR", "CN"], "subject_countries": ["TR"], "topics": []},
        {"id": None, "error": "line 5: expected a JSON object"},
        {"id": None, "error": 'line 6: "text" must be a string'},
    ]
    assert records[1]["error"].startswith("line 2: invalid JSON")
