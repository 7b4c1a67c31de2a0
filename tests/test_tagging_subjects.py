"""Subject countries, explain_tags, regions, eval-tags and the CLI commands that expose them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from index.metadata import extract_metadata
from index.pipeline import parse_document
from index.tagging.evaluation import evaluate, format_report
from index.tagging.explain import explain_tags
from index.tagging.subjects import analyze, subject_countries
from search.regions import (
    is_region,
    load_regions,
    region_countries,
    region_ids,
    region_label,
    regions_for,
)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

WIRE_STORY = (
    "ACME SAYS PROFIT ROSE IN FIRST QUARTER\n"
    "DARIEN, Conn., March 13 -\n"
    "Acme Inc said first quarter profit rose 20 pct on higher sales.\n"
    "    The company said it also opened a small plant in Japan last year.\n"
)


def _seed(prefix: str) -> tuple[str, str]:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    text = path.read_text(encoding="utf-8")
    return text, extract_metadata(text).title


def test_seed_003_is_about_mexico_and_ecuador() -> None:
    text, title = _seed("003")
    subjects = subject_countries(text, title)
    assert set(subjects[:2]) == {"MX", "EC"}


def test_seed_002_is_about_costa_rica_and_taiwan() -> None:
    text, title = _seed("002")
    subjects = subject_countries(text, title)
    assert set(subjects[:2]) == {"CR", "TW"}
    assert "DM" not in analyze(text, title).countries


def test_seed_documents_carry_subject_countries() -> None:
    (path,) = SEEDS.glob("002_*.txt")
    doc = parse_document(SEEDS, path)
    assert set(doc.subject_countries[:2]) == {"CR", "TW"}
    assert set(doc.subject_countries) <= set(doc.countries)


def test_wire_story_subject_is_the_dateline_country() -> None:
    analysis = analyze(WIRE_STORY)
    assert analysis.countries == ["US", "JP"]
    assert analysis.subject_countries == ["US"]
    assert analysis.dateline is not None and analysis.dateline.code == "US"


def test_headline_country_beats_passing_mentions() -> None:
    text = (
        "JAPAN CUTS DISCOUNT RATE TO RECORD LOW\n"
        "TOKYO, Feb 20 -\n"
        "The Bank of Japan cut its discount rate, a move welcomed in Washington and London.\n"
        "    Japanese officials said the cut would support domestic demand.\n"
    )
    analysis = analyze(text)
    assert analysis.subject_countries == ["JP"]
    assert analysis.countries == ["JP", "US", "GB"]


def test_currency_and_actor_mentions_weigh_less() -> None:
    # A eurobond in Australian dollars, filed from London: about the London market.
    bond = (
        "BACOB FINANCE ISSUES 50 MLN AUSTRALIAN DLR BOND\n"
        "LONDON, April 2 -\n"
        "Bacob Finance is issuing a 50 mln Australian dlr bond due 1990, lead manager said.\n"
    )
    assert analyze(bond).subject_countries == ["GB"]
    assert analyze(bond).countries == ["AU", "GB"]
    # "Chinese officials" act in a story about Panama.
    visit = "Chinese officials visited Panama. Panama's canal and Panama's ports were discussed."
    assert analyze(visit).subject_countries == ["PA"]


def test_explain_tags_gives_spans_aliases_and_rules() -> None:
    result = explain_tags(WIRE_STORY)
    assert result["subject_countries"] == ["US"]
    us, jp = result["countries"]
    assert (us["code"], us["subject"], jp["code"], jp["subject"]) == ("US", True, "JP", False)
    rules = {(e["alias"], e["rule"], e["where"]) for e in us["evidence"]}
    assert rules == {
        ("DARIEN, Conn.", "dateline", "dateline"),
        ("Conn.", "state abbreviation → country", "dateline"),
    }
    for country in result["countries"]:
        for e in country["evidence"]:
            assert WIRE_STORY[e["start"] : e["end"]] == e["text"]
    assert result["dateline"] == {"place": "DARIEN, Conn.", "code": "US", "agency": None}


def test_explain_tags_topics_and_capitals() -> None:
    text = "TAIWAN WARNS OF CYBER ATTACKS\nHackers hit 5G networks; cyber security teams responded."
    result = explain_tags(text)
    (tw,) = result["countries"]
    assert tw["evidence"][0]["text"] == "TAIWAN"
    assert tw["evidence"][0]["detail"] == "in capitals, read in title case"
    (topic,) = result["topics"]
    assert topic["id"] == "cybersecurity"
    terms = {e["term"] for e in topic["evidence"]}
    assert {"cyber attack", "cyber security"} <= terms
    for e in topic["evidence"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert e["rule"] == "topic term"


def test_regions() -> None:
    assert regions_for(["GT"]) == [
        "latin-america-caribbean",
        "central-america",
        "northern-triangle",
        "sica",
    ]
    assert regions_for([]) == []
    assert "eu" in regions_for(["DE", "US"]) and "northern-america" in regions_for(["US"])
    assert region_label("eu") == "European Union"
    assert region_countries("northern-triangle") == {"GT", "HN", "SV"}
    ids = region_ids()
    for rid in (
        "central-america",
        "caribbean",
        "south-america",
        "northern-triangle",
        "andean-community",
        "mercosur",
        "sica",
        "caricom",
        "eu",
        "asean",
    ):
        assert rid in ids
    assert is_region("asean") and not is_region("narnia")
    with pytest.raises(KeyError):
        region_label("narnia")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "Central America", "label": "x", "kind": "m49", "countries": ["CR"]}, "lowercase"),
        ({"id": "x", "label": "x", "kind": "m49", "countries": ["ZZ"]}, "unknown country"),
        ({"id": "x", "label": "", "kind": "m49", "countries": ["CR"]}, "missing label"),
        ({"id": "x", "label": "x", "kind": "other", "countries": ["CR"]}, "kind"),
        ({"id": "x", "label": "x", "kind": "m49", "countries": []}, "non-empty"),
    ],
)
def test_bad_regions_file_is_loud(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    path = tmp_path / "regions.json"
    path.write_text(json.dumps({"regions": [entry]}), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_regions(path)


def _gold(tmp_path: Path) -> Path:
    """Three handmade articles in the Reuters places layout."""
    rows = [
        {
            "id": "a",
            "title": "ACME SAYS PROFIT ROSE",
            "dateline": "DARIEN, Conn., March 13 -",
            "body": "Acme Inc said profit rose.\n    It has a plant in Japan.",
            "countries": ["US"],
        },
        {
            "id": "b",
            "title": "JAPAN CUTS DISCOUNT RATE",
            "dateline": "TOKYO, Feb 20 -",
            "body": "The Bank of Japan cut its discount rate.",
            "countries": ["JP", "US"],
        },
        {
            "id": "c",
            "title": "COCOA TALKS RESUME",
            "dateline": "LONDON, March 26 -",
            "body": "Cocoa producers met in London.",
            "countries": ["GB", "CI"],
        },
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_counts_micro_figures(tmp_path: Path) -> None:
    result = evaluate(_gold(tmp_path))
    subjects, everything = result["subject_countries"], result["countries"]
    assert result["articles"] == 3
    # Subjects: US, JP, GB found; US (b) and CI (c) missed.
    assert (subjects["tp"], subjects["fp"], subjects["fn"]) == (3, 0, 2)
    assert subjects["precision"] == 1.0 and subjects["recall"] == 0.6
    # Every country: Japan in (a) is a false positive.
    assert (everything["tp"], everything["fp"], everything["fn"]) == (3, 1, 2)
    assert everything["false_positives"] == [["JP", 1]]
    assert sorted(everything["false_negatives"]) == [["CI", 1], ["US", 1]]
    assert "subject_countries  precision 1.000  recall 0.600" in format_report(result)


def test_eval_tags_command(tmp_path: Path) -> None:
    gold = _gold(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["eval-tags", "--gold", str(gold), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["articles"] == 3 and data["subject_countries"]["f1"] == 0.75
    text = runner.invoke(main, ["eval-tags", "--gold", str(gold)])
    assert (
        "false negatives: CI 1, US 1" in text.output or "false negatives: US 1, CI 1" in text.output
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "T"}\n', encoding="utf-8")
    failed = runner.invoke(main, ["eval-tags", "--gold", str(bad)])
    assert failed.exit_code == 2 and "bad.jsonl:1" in failed.output


def test_tag_command_explain() -> None:
    line = json.dumps({"id": "w", "text": WIRE_STORY})
    out = CliRunner().invoke(main, ["tag", "--explain"], input=line + "\n")
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["subject_countries"] == ["US"]
    assert record["countries"] == ["US", "JP"]
    assert [c["code"] for c in record["explain"]["countries"]] == ["US", "JP"]
