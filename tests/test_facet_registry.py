"""A facet declared once reaches the index, /api/search, the OpenAPI spec, query syntax and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api import create_app
from api.cli import make_search_command
from index.sync import IndexSyncer
from search.facet_registry import Facet, FacetRegistry, default_registry
from tests.serving import copy_seeds

FORMAT = Facet(
    name="format",
    title="Formats",
    field="formats",
    record_key="formats",
    param="format",
    query_alias="format",
    normalize=lambda v: v.lower() if v.lower() in {"txt", "md", "html"} else None,
    value_noun="format",
    extract=lambda doc, passage: [doc.format],
    description="File formats (OR)",
)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FacetRegistry]:
    root = tmp_path_factory.mktemp("registry")
    docs = copy_seeds(root / "docs")
    (docs / "note.md").write_text(
        "# Panama canal note\n\nTraffic through the Panama canal rose again in March.\n",
        encoding="utf-8",
    )
    registry = default_registry().with_facets(FORMAT)
    IndexSyncer(docs, root / "index", workers=0, facets=registry).sync_all()
    return root / "index", registry


def test_a_registered_facet_filters_counts_and_is_documented(
    indexed: tuple[Path, FacetRegistry],
) -> None:
    index_dir, registry = indexed
    app = create_app({"INDEX_DIR": str(index_dir), "FACETS": registry, "WATCH": False})
    client = app.test_client()

    body = client.get("/api/search?q=panama").get_json()
    assert body["facets"]["format"] == [
        {"value": "txt", "label": "txt", "count": body["total"] - 1, "selected": False},
        {"value": "md", "label": "md", "count": 1, "selected": False},
    ]
    assert body["facets_truncated"]["format"] is False
    assert {tuple(h["formats"]) for h in body["hits"]} == {("txt",), ("md",)}

    only_md = client.get("/api/search?q=panama&format=MD").get_json()
    assert [h["doc_id"] for h in only_md["hits"]] == ["note.md"]
    # Disjunctive: the format facet still counts every format under the other filters.
    assert {b["value"]: b["selected"] for b in only_md["facets"]["format"]} == {
        "txt": False,
        "md": True,
    }
    by_syntax = client.get("/api/search", query_string={"q": "panama format:md"}).get_json()
    assert [h["doc_id"] for h in by_syntax["hits"]] == ["note.md"]

    bad = client.get("/api/search?format=pdf")
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == {"format": ["unknown format(s): pdf"]}

    spec = client.get("/api/openapi.json").get_json()
    params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert "format" in params
    assert "format" in spec["components"]["schemas"]["Facets"]["properties"]
    assert "formats" in spec["components"]["schemas"]["Hit"]["properties"]

    facets = client.get("/api/facets").get_json()
    assert facets["format"] == [
        {"value": "txt", "label": "txt", "count": facets["passages"] - 1, "selected": False},
        {"value": "md", "label": "md", "count": 1, "selected": False},
    ]
    assert facets["definitions"][-1] == {
        "name": "format",
        "title": "Formats",
        "param": "format",
        "multi": True,
    }
    assert client.get("/api/documents/note.md").get_json()["formats"] == ["md"]


def test_a_registered_facet_is_a_cli_option(indexed: tuple[Path, FacetRegistry]) -> None:
    index_dir, registry = indexed
    command = make_search_command(registry)
    runner = CliRunner()
    result = runner.invoke(
        command, ["panama", "--index-dir", str(index_dir), "--format", "md", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert [h["doc_id"] for h in body["hits"]] == ["note.md"]
    assert body["hits"][0]["formats"] == ["md"]
    bad = runner.invoke(command, ["panama", "--index-dir", str(index_dir), "--format", "pdf"])
    assert bad.exit_code == 2 and "unknown format(s): pdf" in bad.output


def test_the_default_registry_rejects_duplicate_facets() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        default_registry().with_facets(default_registry()["country"])
