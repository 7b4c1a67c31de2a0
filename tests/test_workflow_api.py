"""Issue 15, items 2-4 over real gunicorn: group by document, documents as the facet unit, the
date histogram and the export (CSV read back with the csv module, JSON Lines)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.serving import Server, copy_seeds

ERROR_KEYS = {"code", "status", "message", "errors"}

DATED = {
    "dated/pact.txt": """Ecuador Signs Security Pact With United States

Tuesday, March 4, 2025

Ecuador and the United States signed a security pact covering naval patrols and drug trafficking
interdiction in the Pacific. Officials in Quito said the agreement builds on years of cooperation
against organized crime and cartels, and includes training for Ecuadorian police units.
""",
    "dated/darien.txt": """Panama Tightens Darien Migration Controls

Thursday, March 20, 2025

Panama said it would tighten security controls on migration through the Darien Gap, with more
border police and biometric checks, after talks with Colombia on the flow of people heading north
toward the United States.
""",
    "dated/minister.txt": """Guatemala Names New Security Minister

Wednesday, January 10, 2024

Guatemala named a new security minister to lead the fight against gangs and extortion, the
president said, promising closer cooperation with Honduras and El Salvador on border security and
organized crime in the Northern Triangle.
""",
    "formula.txt": """=HYPERLINK("http://evil.example","click") cocoa security review

-2+3 said the security analyst, and @everyone agreed that cocoa prices and port security at the
docks would stay on the agenda for the coming months of the harvest season, with inspections.
""",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """gunicorn over the seeds plus three dated briefs and one with spreadsheet formulas."""
    base = tmp_path_factory.mktemp("workflow")
    docs = copy_seeds(base / "docs")
    for name, text in DATED.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    env = {"BRIEFING_EXPORT_MAX_PASSAGES": "1000"}
    with Server(docs, base / "index", workers=2, env=env) as srv:
        yield srv


def search(server: Server, **params: object) -> dict:
    response = server.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def every_hit(server: Server, **params: object) -> list[dict]:
    return search(server, per_page=100, **params)["hits"]


def test_group_by_document_is_field_collapsing_of_the_passage_ranking(server: Server) -> None:
    passages = every_hit(server, q="security")
    assert len(passages) == search(server, q="security")["total"] == 25
    # Documents in the order of their best passage; each with its top 3 passages in order.
    order = list(dict.fromkeys(h["doc_id"] for h in passages))
    by_doc: dict[str, list[dict]] = {}
    for hit in passages:
        by_doc.setdefault(hit["doc_id"], []).append(hit)

    grouped = search(server, q="security", group="document", per_page=4)
    hits = grouped.pop("hits")
    facets = grouped.pop("facets")
    assert grouped.pop("took_ms") > 0
    assert grouped == {
        "query": "security",
        "query_info": {
            "interpreted": "text:secur",
            "fallback": False,
            "message": None,
            "rescored": False,
            "match": {"mode": "all", "required": 1, "of": 1},
            "relaxed_from": None,
            "diagnosis": None,
            "showing_results_for": None,
            "timed_out": False,
        },
        "total": 25,
        "total_documents": 9,
        "page": 1,
        "per_page": 4,
        "pages": 3,
        "sort": "relevance",
        "facets_truncated": {
            "subject_countries": False,
            "country": False,
            "regions": False,
            "topic": False,
            "source": False,
            "year": False,
        },
        "suggestion": None,
    }
    assert [h["doc_id"] for h in hits] == order[:4]
    for hit in hits:
        mine = by_doc[hit["doc_id"]]
        assert hit == {**mine[0], "passages": mine[:3], "matched_passages": len(mine)}
    # Facets still count passages unless asked otherwise.
    assert facets == search(server, q="security")["facets"]

    # Pages are pages of documents; past the end, none, with the same totals.
    last = search(server, q="security", group="document", per_page=4, page=3, group_size=1)
    assert [h["doc_id"] for h in last["hits"]] == order[8:]
    assert [len(h["passages"]) for h in last["hits"]] == [1]
    beyond = search(server, q="security", group="document", per_page=4, page=4)
    assert (beyond["hits"], beyond["total_documents"], beyond["total"]) == ([], 9, 25)


def test_group_by_document_with_phrases_and_date_sort(server: Server) -> None:
    for params in ({"q": '"organized crime"'}, {"q": "", "sort": "newest"}):
        passages = every_hit(server, **params)
        order = list(dict.fromkeys(h["doc_id"] for h in passages))
        grouped = search(server, group="document", per_page=100, **params)
        assert [h["doc_id"] for h in grouped["hits"]] == order
        assert grouped["total_documents"] == len(order)
        assert [h["passage_id"] for h in grouped["hits"]] == [
            next(p["passage_id"] for p in passages if p["doc_id"] == d) for d in order
        ]


def test_facet_unit_document_counts_distinct_documents(server: Server) -> None:
    passages = every_hit(server, q="security")
    docs_per_topic: dict[str, set[str]] = {}
    docs_per_year: dict[str, set[str]] = {}
    for hit in passages:
        for topic in hit["topics"]:
            docs_per_topic.setdefault(topic, set()).add(hit["doc_id"])
        if hit["date"]:
            docs_per_year.setdefault(hit["date"][:4], set()).add(hit["doc_id"])
    body = search(server, q="security", facet_unit="document", facet_size=50)
    assert body["total"] == 25 and body["total_documents"] == 9
    topics = {b["value"]: b["count"] for b in body["facets"]["topic"]}
    assert topics == {t: len(d) for t, d in docs_per_topic.items()}
    years = {b["value"]: b["count"] for b in body["facets"]["year"]}
    assert years == {"2025": 3, "2024": 1} == {y: len(d) for y, d in docs_per_year.items()}
    # Passages, as before, without it: seed 003 alone has several passages of 2025.
    passage_years = {b["value"]: b["count"] for b in search(server, q="security")["facets"]["year"]}
    assert passage_years == dict(Counter(h["date"][:4] for h in passages if h["date"]))
    assert passage_years["2025"] > 3


def test_histogram_by_month_is_disjunctive_with_the_date_filter(server: Server) -> None:
    body = search(server, q="security", histogram="year")
    assert body["histogram"] == [
        {"start": "2024-01-01", "end": "2024-12-31", "count": 1},
        {"start": "2025-01-01", "end": "2025-12-31", "count": 8},
    ]
    # The date range narrows the hits, not the chart: bars outside it stay to be clicked.
    ranged = search(
        server, q="security", histogram="month", date_from="2025-03-01", date_to="2025-03-31"
    )
    assert ranged["total"] == 2
    months = ranged["histogram"]
    assert len(months) == 23  # January 2024 to November 2025, empty months included
    assert months[0] == {"start": "2024-01-01", "end": "2024-01-31", "count": 1}
    assert months[1] == {"start": "2024-02-01", "end": "2024-02-29", "count": 0}
    assert months[14] == {"start": "2025-03-01", "end": "2025-03-31", "count": 2}
    assert months[-1] == {"start": "2025-11-01", "end": "2025-11-30", "count": 6}
    assert sum(b["count"] for b in months) == 9
    # Other filters do narrow it; documents can be counted instead of passages.
    assert search(server, q="security", histogram="year", country="GT")["histogram"] == [
        {"start": "2024-01-01", "end": "2024-12-31", "count": 1},
    ]
    assert search(server, q="security", histogram="year", facet_unit="document")["histogram"] == [
        {"start": "2024-01-01", "end": "2024-12-31", "count": 1},
        {"start": "2025-01-01", "end": "2025-12-31", "count": 3},
    ]
    weeks = search(server, q="security", histogram="week", date_from="2025-03-01")["histogram"]
    assert weeks[0] == {"start": "2024-01-08", "end": "2024-01-14", "count": 1}
    assert {"start": "2025-03-03", "end": "2025-03-09", "count": 1} in weeks
    assert {"start": "2025-03-17", "end": "2025-03-23", "count": 1} in weeks
    # Not asked for: not there (the response is as it always was).
    assert "histogram" not in search(server, q="security")
    assert "total_documents" not in search(server, q="security")


def test_csv_export_reads_back_with_the_csv_module(server: Server) -> None:
    passages = every_hit(server, q="security")
    response = requests.get(
        server.url + "/api/export",
        params={"q": "security", "format": "csv", "bom": "true"},
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="briefing-export.csv"'
    assert response.headers["Transfer-Encoding"] == "chunked"  # streamed, not buffered
    assert (
        response.headers["X-Export-Total"],
        response.headers["X-Export-Count"],
        response.headers["X-Export-Truncated"],
    ) == ("25", "25", "false")
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [r["passage_id"] for r in rows] == [h["passage_id"] for h in passages]
    first = passages[0]
    assert rows[0] == {
        "doc_id": first["doc_id"],
        "passage_id": first["passage_id"],
        "title": ("'" if first["title"][0] in "=+-@" else "") + first["title"],
        "date": first["date"] or "",
        "source": first["source"] or "",
        "countries": ";".join(first["countries"]),
        "subject_countries": ";".join(first["subject_countries"]),
        "topics": ";".join(first["topics"]),
        "page": "",
        "start": str(first["start"]),
        "end": str(first["end"]),
        "score": str(first["score"]),
        "text": ("'" if first["text"][0] in "=+-@" else "") + first["text"],
    }
    # Formula injection: cells that start with = + - @ are text to a spreadsheet.
    formula = next(r for r in rows if r["doc_id"] == "formula.txt")
    assert formula["title"] == '\'=HYPERLINK("http://evil.example","click") cocoa security review'
    assert formula["text"].startswith("'-2+3 said the security analyst")
    pact = next(r for r in rows if r["doc_id"] == "dated/pact.txt")
    assert (pact["date"], pact["countries"]) == ("2025-03-04", "EC;US")


def test_jsonl_export_with_filters_no_bom_and_the_cap(server: Server) -> None:
    passages = every_hit(server, q="security", country="US", sort="newest")
    response = server.get(
        "/api/export",
        params={"q": "security", "country": "US", "sort": "newest", "format": "jsonl"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [r["passage_id"] for r in lines] == [h["passage_id"] for h in passages]
    hit = passages[0]
    assert lines[0] == {
        **{k: hit[k] for k in ("doc_id", "passage_id", "title", "date", "source", "text")},
        **{k: hit[k] for k in ("countries", "subject_countries", "topics", "page", "start")},
        "end": hit["end"],
        "score": None,  # ordered by date: no score, as in /api/search
    }
    # No BOM unless asked; a capped export says so before its body.
    plain = server.get("/api/export", params={"q": "security", "format": "csv"})
    assert plain.content.startswith(b"doc_id,passage_id,title,date,source,")


def test_export_cap_is_a_setting(tmp_path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    env = {"BRIEFING_EXPORT_MAX_PASSAGES": "5"}
    with Server(docs, tmp_path / "index", workers=1, env=env) as srv:
        response = srv.get("/api/export", params={"q": "security", "format": "jsonl"})
        assert response.status_code == 200
        assert len(response.text.splitlines()) == 5
        assert (
            response.headers["X-Export-Total"],
            response.headers["X-Export-Count"],
            response.headers["X-Export-Truncated"],
        ) == ("21", "5", "true")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/search", {"q": "x", "group": "paragraph"}, "group"),
        ("/api/search", {"q": "x", "group": "document", "group_size": "0"}, "group_size"),
        ("/api/search", {"q": "x", "group_size": "21"}, "group_size"),
        ("/api/search", {"q": "x", "facet_unit": "word"}, "facet_unit"),
        ("/api/search", {"q": "x", "histogram": "day"}, "histogram"),
        ("/api/export", {"q": "x"}, "format"),
        ("/api/export", {"q": "x", "format": "xlsx"}, "format"),
        ("/api/export", {"q": "x", "format": "csv", "bom": "maybe"}, "bom"),
        ("/api/export", {"format": "csv", "country": "XX"}, "country"),
    ],
)
def test_bad_input_is_a_422_in_the_error_shape(
    server: Server, path: str, params: dict, field: str
) -> None:
    response = server.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and field in body["errors"], body


def test_openapi_describes_the_new_parameters_and_endpoint(server: Server) -> None:
    spec = server.get("/api/openapi.json").json()
    search_params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"group", "group_size", "facet_unit", "histogram"} <= search_params
    export = spec["paths"]["/api/export"]["get"]
    assert {p["name"] for p in export["parameters"]} >= search_params | {"format", "bom"}
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/x-ndjson"}
    response = spec["components"]["schemas"]["SearchResponse"]["properties"]
    assert response["histogram"]["items"] == {"$ref": "#/components/schemas/HistogramBucket"}
    hit = spec["components"]["schemas"]["Hit"]["properties"]
    assert hit["passages"]["items"] == {"$ref": "#/components/schemas/PassageHit"}


def test_readme_states_the_codes_numbers() -> None:
    from search.grouping import DEFAULT_GROUP_SIZE, MAX_GROUP_SIZE
    from search.histogram import MAX_FILLED_BUCKETS
    from search.settings import SETTINGS_BY_NAME

    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    history = (Path(__file__).resolve().parent.parent / "api/static/history.js").read_text()
    cap = SETTINGS_BY_NAME["EXPORT_MAX_PASSAGES"].default
    for phrase in (
        f"best first, default {DEFAULT_GROUP_SIZE}, at most {MAX_GROUP_SIZE}",
        f"(up to {MAX_FILLED_BUCKETS:,} buckets;",
        f"`BRIEFING_EXPORT_MAX_PASSAGES` (default {cap:,}; 0: none)",
        "keeps the last 50 searches",
    ):
        assert phrase in readme, phrase
    assert "export const HISTORY_SIZE = 50;" in history
