"""Contract tests: HTTP against a real gunicorn over an index of the seeds."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

import pytest
import requests
from openapi_spec_validator import validate

from tests.serving import Server, copy_seeds

HUAWEI_DOC = "002_cb201ffc96d0d6cf.txt"
ERROR_KEYS = {"code", "status", "message", "errors"}

XSS_DOC = """Markup in a pasted note

Huawei tried <script>alert('x')</script> and <img src=x onerror="alert(1)"> in this passage,
which talks about telecom vendors in Costa Rica at some length so that it forms a passage.
"""

DATED_DOC = """Ecuador Signs Security Pact With United States

Tuesday, March 4, 2025

Ecuador and the United States signed a security pact covering naval patrols and drug trafficking
interdiction in the Pacific. Officials in Quito said the agreement builds on years of cooperation
against organized crime and cartels, and includes training for Ecuadorian police units.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A 2-worker gunicorn over the seeds plus an XSS document and a dated document."""
    base = tmp_path_factory.mktemp("api")
    docs = copy_seeds(base / "docs")
    (docs / "xss.txt").write_text(XSS_DOC)
    (docs / "sub").mkdir()
    (docs / "sub" / "dated.txt").write_text(DATED_DOC)
    with Server(docs, base / "index", workers=2) as srv:
        yield srv


def search(server: Server, **params: object) -> dict:
    response = server.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_hits(server: Server, **params: object) -> list[dict]:
    hits, page = [], 1
    while True:
        body = search(server, per_page=100, page=page, **params)
        hits.extend(body["hits"])
        if page >= body["pages"]:
            return hits
        page += 1


def assert_error(response: requests.Response, code: int, field: str | None = None) -> dict:
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    if field:
        assert field in body["errors"], body
    return body


def test_huawei_ranks_seed_002_first(server: Server) -> None:
    body = search(server, q="Huawei")
    assert body["hits"][0]["doc_id"] == HUAWEI_DOC
    assert body["total"] == len(all_hits(server, q="Huawei"))
    # BRIEFING_SEMANTIC is off by default: BM25 alone ranked these.
    assert body["query_info"] == {
        "interpreted": "text:huawei",
        "fallback": False,
        "message": None,
        "rescored": False,
        "match": {"mode": "all", "required": 1, "of": 1},
        "relaxed_from": None,
        "diagnosis": None,
        "showing_results_for": None,
        "timed_out": False,
    }
    hit = body["hits"][0]
    assert set(hit) >= {
        "passage_id", "doc_id", "title", "date", "source", "text", "highlight",
        "countries", "topics", "score", "start", "end",
    }  # fmt: skip
    assert "<mark>Huawei</mark>" in hit["highlight"]
    assert hit["source"] == "Taiwan News"
    assert "CR" in hit["countries"]


def test_hit_offsets_point_into_document_text(server: Server) -> None:
    hit = search(server, q="Huawei")["hits"][0]
    doc = server.get(f"/api/documents/{hit['doc_id']}").json()
    assert doc["text"][hit["start"] : hit["end"]] == hit["text"]
    for passage in doc["passages"]:
        assert doc["text"][passage["start"] : passage["end"]] == passage["text"]


def test_facet_counts_match_counts_computed_from_hits(server: Server) -> None:
    body = search(server, q="security")
    hits = all_hits(server, q="security")
    assert body["total"] == len(hits)
    expected_countries = Counter(c for h in hits for c in h["countries"])
    expected_topics = Counter(t for h in hits for t in h["topics"])
    got_countries = {b["value"]: b["count"] for b in body["facets"]["country"]}
    got_topics = {b["value"]: b["count"] for b in body["facets"]["topic"]}
    assert got_countries == dict(expected_countries)
    assert got_topics == dict(expected_topics)
    years = Counter(h["date"][:4] for h in hits if h["date"])
    assert {b["value"]: b["count"] for b in body["facets"]["year"]} == dict(years)


def test_facets_are_disjunctive(server: Server) -> None:
    picked = search(server, q="security", country="EC")
    assert picked["total"] > 0
    assert all("EC" in h["countries"] for h in all_hits(server, q="security", country="EC"))
    buckets = {b["value"]: b for b in picked["facets"]["country"]}
    assert buckets["EC"]["selected"] is True
    assert buckets["EC"]["count"] == picked["total"]
    # Mexico's count is what ticking Mexico as well would add: its count without the EC filter.
    mexico_alone = search(server, q="security", country="MX")["total"]
    assert buckets["MX"]["count"] == mexico_alone
    assert buckets["MX"]["selected"] is False
    both = search(server, q="security", country=["EC", "MX"])
    union = {h["passage_id"] for h in all_hits(server, q="security", country="EC")} | {
        h["passage_id"] for h in all_hits(server, q="security", country="MX")
    }
    assert both["total"] == len(union)
    # Other facets do apply the country filter.
    topics = Counter(t for h in all_hits(server, q="security", country="EC") for t in h["topics"])
    assert {b["value"]: b["count"] for b in picked["facets"]["topic"]} == dict(topics)


def test_filters_and_across_facets(server: Server) -> None:
    hits = all_hits(server, q="migration", country="CR", topic="china-influence")
    assert hits
    assert all("CR" in h["countries"] and "china-influence" in h["topics"] for h in hits)


def test_highlight_escapes_document_markup(server: Server) -> None:
    hits = all_hits(server, q="Huawei", doc_id="xss.txt")
    assert len(hits) == 1
    highlight = hits[0]["highlight"]
    assert "<mark>Huawei</mark>" in highlight
    assert "&lt;script&gt;" in highlight
    assert "<script" not in highlight and "<img" not in highlight
    assert highlight.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_pagination_is_exact_and_disjoint(server: Server) -> None:
    first = search(server, q="rubio", per_page=3, page=1)
    second = search(server, q="rubio", per_page=3, page=2)
    assert first["total"] == second["total"] > 6
    ids1 = [h["passage_id"] for h in first["hits"]]
    ids2 = [h["passage_id"] for h in second["hits"]]
    assert len(ids1) == len(ids2) == 3 and not set(ids1) & set(ids2)
    everything = [h["passage_id"] for h in all_hits(server, q="rubio")]
    assert len(everything) == len(set(everything)) == first["total"]
    assert everything[:6] == ids1 + ids2
    beyond = search(server, q="rubio", per_page=100, page=first["total"])
    assert beyond["hits"] == [] and beyond["total"] == first["total"]


def test_date_sort_and_filter(server: Server) -> None:
    newest = search(server, q="security", sort="newest", per_page=100)["hits"]
    dates = [h["date"] for h in newest]
    dated = [d for d in dates if d]
    assert dated == sorted(dated, reverse=True)
    assert dates[: len(dated)] == dated, "undated passages sort last"
    assert newest[0]["date"] == "2025-11-02"
    oldest = search(server, q="security", sort="oldest", per_page=100)["hits"]
    assert oldest[0]["date"] == "2025-03-04"
    assert oldest[0]["score"] is None
    window = all_hits(server, q="security", date_from="2025-01-01", date_to="2025-06-30")
    assert window and {h["doc_id"] for h in window} == {"sub/dated.txt"}
    # An undated passage never passes a date filter.
    assert all(h["date"] for h in all_hits(server, date_from="2000-01-01"))


def test_empty_query_with_filters_browses_by_date(server: Server) -> None:
    body = search(server, country="EC")
    assert body["total"] == len(all_hits(server, country="EC")) > 0
    dates = [h["date"] or "" for h in body["hits"]]
    assert dates == sorted(dates, reverse=True)


def test_query_syntax(server: Server) -> None:
    phrase = all_hits(server, q='"cyber attacks"')
    assert phrase and all("cyber attacks" in h["text"].lower() for h in phrase)
    excluded = all_hits(server, q="huawei -panama")
    assert excluded and all("panama" not in h["text"].lower() for h in excluded)
    either = search(server, q="fentanyl OR Huawei")["total"]
    assert either == search(server, q="fentanyl")["total"] + search(server, q="Huawei")["total"]
    field = all_hits(server, q="country:ecuador")
    assert field and all("EC" in h["countries"] for h in field)
    assert search(server, q="country:EC")["total"] == len(field)
    prefix = all_hits(server, q="deport*")
    assert prefix and all(
        "deport" in h["text"].lower() or "deport" in h["title"].lower() for h in prefix
    )
    topic = all_hits(server, q="topic:cybersecurity")
    assert topic and all("cybersecurity" in h["topics"] for h in topic)


@pytest.mark.parametrize("q", ['"costa rica', "(huawei", "huawei AND", "foo:bar huawei", "OR"])
def test_malformed_query_falls_back_to_plain_words(server: Server, q: str) -> None:
    body = search(server, q=q)
    assert body["query_info"]["fallback"] is True
    assert body["query_info"]["message"]


def test_did_you_mean(server: Server) -> None:
    body = search(server, q="migraton", autocorrect="false")
    assert body["total"] == 0
    assert body["suggestion"] == "migration"
    assert search(server, q=body["suggestion"])["total"] > 0
    assert search(server, q="migration")["suggestion"] is None


def test_similar_excludes_itself(server: Server) -> None:
    hit = search(server, q="Huawei")["hits"][0]
    pid = quote(hit["passage_id"])
    body = server.get(f"/api/passages/{pid}/similar").json()
    ids = [p["passage_id"] for p in body["similar"]]
    assert ids and hit["passage_id"] not in ids
    passage = server.get(f"/api/passages/{pid}").json()
    assert passage["text"] == hit["text"]


def test_documents_and_facets_vocabulary(server: Server) -> None:
    listing = server.get("/api/documents", params={"per_page": 100}).json()
    ids = {d["doc_id"] for d in listing["documents"]}
    assert listing["total"] == 7 and "sub/dated.txt" in ids and HUAWEI_DOC in ids
    doc = server.get(f"/api/documents/{HUAWEI_DOC}").json()
    assert set(doc["countries"]) >= {"CR", "TW", "CN", "PA", "US"}
    assert doc["source"] == "Taiwan News"
    vocab = server.get("/api/facets").json()
    assert vocab["documents"] == 7
    countries = {b["value"]: b["label"] for b in vocab["country"]}
    assert countries["EC"] == "Ecuador" and "DM" not in countries
    assert any(b["value"] == "migration" and b["label"] for b in vocab["topic"])


def test_health_and_readiness(server: Server) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/readyz").json()["documents"] == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x", "per_page": 101}, "per_page"),
        ({"q": "x", "page": 0}, "page"),
        ({"q": "x", "sort": "random"}, "sort"),
        ({"q": "x", "date_from": "2025-13-01"}, "date_from"),
        ({"q": "x", "date_to": "yesterday"}, "date_to"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "country": "ZZ"}, "country"),
        ({"q": "x", "page": "two"}, "page"),
    ],
)
def test_bad_arguments_are_422_naming_the_field(server: Server, params: dict, field: str) -> None:
    assert_error(server.get("/api/search", params=params), 422, field)


def test_not_found_and_method_errors(server: Server) -> None:
    assert_error(server.get("/api/documents/nope.txt"), 404)
    assert_error(server.get("/api/passages/nope.txt%230"), 404)
    assert_error(server.get("/api/passages/nope.txt%230/similar"), 404)
    assert_error(server.get("/api/no-such-endpoint"), 404)
    assert_error(requests.delete(server.url + "/api/search", timeout=10), 405)


def test_openapi_spec_validates(server: Server) -> None:
    spec = server.get("/api/openapi.json").json()
    validate(spec)
    assert "/api/search" in spec["paths"]
    responses = spec["paths"]["/api/search"]["get"]["responses"]
    assert "422" in responses
    page = server.get("/api/docs")
    assert page.status_code == 200 and "/api/search" in page.text
    assert "cdn" not in page.text.lower()


def test_cors_is_off_unless_origins_are_listed(server: Server) -> None:
    # BRIEFING_CORS_ORIGINS is empty by default (issue 17); tests/test_refusals.py covers lists.
    response = server.get(
        "/api/search", params={"q": "x"}, headers={"Origin": "https://app.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_responses_never_leak_stack_traces(server: Server) -> None:
    for path in (
        "/api/search?q=%00%ff",
        "/api/search?q=" + "(" * 200,
        "/api/documents/..%2F..%2Fetc",
    ):
        response = server.get(path)
        assert response.status_code < 500, (path, response.text)
        assert "Traceback" not in response.text


def test_cli_search_prints_the_same_results(server: Server) -> None:
    import json
    import subprocess

    from tests.serving import BRIEFING

    out = subprocess.run(
        [BRIEFING, "search", "Huawei", "--index-dir", str(server.index_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(out.stdout)
    api = search(server, q="Huawei")
    assert [h["passage_id"] for h in body["hits"]] == [h["passage_id"] for h in api["hits"]]
    assert body["total"] == api["total"]


def test_graded_match_reading(server: Server) -> None:
    short = search(server, q="huawei costa")
    assert short["query_info"]["match"] == {"mode": "all", "required": 2, "of": 2}
    four = search(server, q="Huawei 5G Costa Rica")
    assert four["query_info"]["match"] == {"mode": "at_least", "required": 3, "of": 4}
    # Every hit has at least three of the four words; "any" finds more, "all" fewer.
    for hit in all_hits(server, q="Huawei 5G Costa Rica"):
        words = {w for w in ("huawei", "5g", "costa", "rica") if w in hit["text"].lower()}
        words |= {w for w in ("huawei", "5g", "costa", "rica") if w in hit["title"].lower()}
        assert len(words) >= 3, hit["passage_id"]
    anyone = search(server, q="Huawei 5G Costa Rica", match="any")
    every = search(server, q="Huawei 5G Costa Rica", match="all")
    assert anyone["query_info"]["match"] == {"mode": "any", "required": 1, "of": 4}
    assert every["query_info"]["match"] == {"mode": "all", "required": 4, "of": 4}
    assert anyone["total"] > four["total"] >= every["total"] > 0
    # A question: function words never count, and past three content words any of them will do.
    pasted = search(server, q="what did Rubio say about deportation agreements during his visit")
    assert pasted["query_info"]["match"] == {"mode": "any", "required": 1, "of": 4}
    assert search(server, q="what did Rubio say")["query_info"]["match"] == {
        "mode": "all",
        "required": 1,
        "of": 1,
    }
    rubio = search(server, q="rubio")["total"]
    assert search(server, q="what did Rubio say")["total"] == rubio
    assert search(server, q="huawei OR fentanyl")["query_info"]["match"] is None
    # Nothing has three of these four words: the reading relaxes to any, and says so.
    relaxed = search(server, q="Huawei zanzibar quokka fentanyl")
    assert relaxed["query_info"]["relaxed_from"] == {"mode": "at_least", "required": 3, "of": 4}
    assert relaxed["query_info"]["match"] == {"mode": "any", "required": 1, "of": 4}
    assert relaxed["query_info"]["message"] == (
        "no passage has at least 3 of the 4 words: showing passages with any of them"
    )
    either = search(server, q="huawei OR fentanyl")["total"]
    assert relaxed["total"] == either > 0
    assert four["query_info"]["relaxed_from"] is None
    bad = server.get("/api/search", params={"q": "huawei", "match": "some"})
    assert bad.status_code == 422 and "match" in bad.json()["errors"]


def test_zero_results_get_a_diagnosis_and_a_way_out(server: Server) -> None:
    body = search(server, q="zanzibar security")
    assert body["total"] == 0
    security = search(server, q="security")["total"]
    assert body["query_info"]["diagnosis"] == {
        "terms": [{"term": "zanzibar", "matches": 0}, {"term": "security", "matches": security}],
        "filters": [],
        "relaxed": {
            "q": "security",
            "filters": {},
            "date_from": None,
            "date_to": None,
            "dropped": "word: zanzibar",
            "total": security,
        },
    }
    filtered = search(server, q="huawei", country="EC")
    huawei = search(server, q="huawei")["total"]
    assert filtered["total"] == 0
    assert filtered["query_info"]["diagnosis"]["filters"] == [
        {"filter": "country", "value": "EC", "matches": huawei}
    ]
    assert filtered["query_info"]["diagnosis"]["relaxed"]["filters"] == {}
    assert filtered["query_info"]["diagnosis"]["relaxed"]["total"] == huawei
    assert search(server, q="huawei")["query_info"]["diagnosis"] is None


def test_a_misspelling_shows_the_corrections_results(server: Server) -> None:
    body = search(server, q="migraton")
    assert body["query"] == "migraton"
    assert body["query_info"]["showing_results_for"] == "migration"
    assert body["suggestion"] == "migration"
    assert body["total"] == search(server, q="migration")["total"] > 0
    assert "<mark>" in body["hits"][0]["highlight"]


def test_explain_breaks_the_score_down(server: Server) -> None:
    body = search(server, q="huawei costa rica", explain="true")
    hit = body["hits"][0]
    explain = hit["explain"]
    assert explain["semantic"] is None and explain["bm25"] == hit["score"]
    assert {t["term"] for t in explain["terms"]} <= {"huawei", "costa", "rica"}
    assert all(t["field"] == "text" and t["score"] > 0 for t in explain["terms"])
    assert abs(sum(t["score"] for t in explain["terms"]) - hit["score"]) < 0.01
    assert "explain" not in search(server, q="huawei")["hits"][0]


def test_cli_explain_and_match(server: Server) -> None:
    import json
    import subprocess

    from tests.serving import BRIEFING

    def cli(*args: str) -> str:
        return subprocess.run(
            [BRIEFING, "search", *args, "--index-dir", str(server.index_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    text = cli("huawei costa rica", "--explain")
    top = search(server, q="huawei costa rica", explain="true")["hits"][0]
    assert f"score {top['score']} = BM25 {top['explain']['bm25']} (" in text
    assert "huawei[text]" in text
    body = json.loads(cli("Huawei 5G Costa Rica", "--match", "any", "--json", "--explain"))
    api = search(server, q="Huawei 5G Costa Rica", match="any", explain="true")
    assert body["query_info"] == api["query_info"]
    assert [h["explain"] for h in body["hits"]] == [h["explain"] for h in api["hits"]]
    assert "at least 3 of 4 words" in cli("Huawei 5G Costa Rica")


def test_responses_are_compressed_and_assets_cached_for_good(server: Server) -> None:
    import re

    body = server.get("/api/search", params={"q": "migration"}, headers={"Accept-Encoding": "gzip"})
    assert body.headers["Content-Encoding"] == "gzip" and body.json()["total"] > 0
    plain = server.get("/api/search", params={"q": "migration"}, headers={"Accept-Encoding": ""})
    assert "Content-Encoding" not in plain.headers
    page = server.get("/")
    assert '<meta name="description" content="Search briefing documents' in page.text
    src = re.search(r'src="(/assets/search\.js\?v=[0-9a-f]+)"', page.text)
    assert src is not None
    versioned = server.get(src.group(1))
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert server.get("/assets/common.js").headers["Cache-Control"] == "no-cache"
    assert server.get("/assets/search.js?v=stale").headers["Cache-Control"] == "no-cache"


def test_subject_countries_and_regions_filter_and_facet(server: Server) -> None:
    seed_003 = "003_ea86780b6957a22a.txt"
    document = server.get(f"/api/documents/{seed_003}").json()
    assert document["subject_countries"][:2] in (["MX", "EC"], ["EC", "MX"])
    body = search(server, q="", facet_size=100, per_page=100)
    for hit in body["hits"]:
        doc = server.get(f"/api/documents/{hit['doc_id']}").json()
        assert hit["subject_countries"] == doc["subject_countries"]
    about = {b["value"]: b for b in body["facets"]["subject_countries"]}
    assert about["MX"]["label"] == "Mexico" and about["MX"]["selected"] is False
    only_mx = search(server, q="", subject_country="mx", per_page=100)
    assert only_mx["total"] == about["MX"]["count"] > 0
    assert all("MX" in h["subject_countries"] for h in only_mx["hits"])
    selected = {b["value"]: b["selected"] for b in only_mx["facets"]["subject_countries"]}
    assert selected["MX"] is True and len(selected) > 1, "disjunctive: other values still count"

    regions = {b["value"]: b for b in body["facets"]["regions"]}
    assert regions["central-america"]["label"] == "Central America"
    central = search(server, q="", region="central-america", per_page=100)
    assert central["total"] == regions["central-america"]["count"] > 0
    members = {"BZ", "CR", "SV", "GT", "HN", "MX", "NI", "PA"}
    for hit in central["hits"]:
        assert "central-america" in hit["regions"] and members & set(hit["countries"])
    bad = server.get("/api/search", params={"region": "atlantis"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"region": ["unknown region(s): atlantis"]}
    spec = server.get("/api/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"subject_country", "region"} <= params


def test_passage_explains_its_tags(server: Server) -> None:
    hit = search(server, q="Huawei")["hits"][0]
    pid = quote(hit["passage_id"])
    plain = server.get(f"/api/passages/{pid}").json()
    assert "explain" not in plain
    body = server.get(f"/api/passages/{pid}", params={"explain": "tags"}).json()
    tags = body["explain"]["tags"]
    codes = {c["code"] for c in tags["countries"]}
    assert set(hit["countries"]) <= codes
    for country in tags["countries"]:
        for evidence in country["evidence"]:
            assert body["text"][evidence["start"] : evidence["end"]] == evidence["text"]
            assert evidence["rule"]
    assert {t["id"] for t in tags["topics"]} == set(hit["topics"])
    assert server.get(f"/api/passages/{pid}", params={"explain": "x"}).status_code == 422
