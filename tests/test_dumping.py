"""Compiled schema dumps (api/dumping.py) and the orjson provider (api/encoding.py) give what
marshmallow and Flask's own json would, on real responses of a real index of the seeds."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import marshmallow as ma
import pytest
from flask.json.provider import DefaultJSONProvider
from marshmallow import fields, post_dump

from api import create_app
from api.dumping import CompiledDumpSchema, compile_dump
from api.schemas import ApiSchemas
from index.sync import IndexSyncer
from search.results import SearchRequest
from search.searching import SearchEngine

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

REQUESTS = [
    SearchRequest(q="migration"),
    SearchRequest(q="Panama OR Mexico", per_page=30),
    SearchRequest(q='"United States"', explain=True),
    SearchRequest(q="secretary", group="document", facet_unit="document", histogram="month"),
    SearchRequest(q="", sort="newest", histogram="year"),
    SearchRequest(q="migra*", filters={"country": ["MX"]}, facet_size=2),
    SearchRequest(q="zzzznothing"),
    SearchRequest(q="title:rubio", page=2, per_page=2),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    root = tmp_path_factory.mktemp("dumping")
    shutil.copytree(SEEDS, root / "docs")
    IndexSyncer(root / "docs", root / "index", workers=0).sync_all()
    return SearchEngine(root / "index")


def _plain(schema: ma.Schema, obj: Any) -> Any:
    """marshmallow's own dump of obj, bypassing the compiled plan."""
    return ma.Schema.dump(schema, obj)


def test_compiled_dumps_equal_marshmallows_on_every_endpoint(engine: SearchEngine) -> None:
    schemas = ApiSchemas.build(engine.facets)
    search = schemas.search_response()
    for request in REQUESTS:
        result = engine.search(request)
        assert search.dump(result) == _plain(search, result), request
    assert "_compiled_dump" in search.__dict__ and search.__dict__["_compiled_dump"] is not None

    first = engine.search(SearchRequest(q="migration")).hits[0]
    document, passage, similar = schemas.document(), schemas.passage(), schemas.similar()
    detail = engine.document(first.doc_id)
    assert document.dump(detail) == _plain(document, detail)
    paged = engine.document(first.doc_id, page=1, per_page=1)
    assert document.dump(paged) == _plain(document, paged)
    record = engine.passage(first.passage_id)
    assert passage.dump(record) == _plain(passage, record)
    more = {"passage_id": first.passage_id, "similar": engine.similar(first.passage_id, 3)}
    assert similar.dump(more) == _plain(similar, more)
    listing = engine.documents(page=1, per_page=3, sort="doc_id")
    document_list = schemas.document_list()
    assert document_list.dump(listing) == _plain(document_list, listing)


@dataclass
class _Thing:
    name: str | int
    count: Any
    ratio: Any
    flag: Any
    tags: dict[str, list[str]]


def test_compiled_dump_follows_marshmallow_rules_for_keys_defaults_and_hooks() -> None:
    class Inner(ma.Schema):
        word = fields.String()

    class Outer(CompiledDumpSchema):
        name = fields.String()
        count = fields.Integer(dump_default=7)
        ratio = fields.Float(allow_none=True)
        flag = fields.Boolean()
        first_tag = fields.String(attribute="tags.first", data_key="firstTag")
        tags = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
        shout = fields.Method("loud")
        inner = fields.Nested(Inner, many=True)
        absent = fields.String()

        def loud(self, obj: Any) -> str:
            return str(
                getattr(obj, "name", obj.get("name") if isinstance(obj, dict) else "")
            ).upper()

        @post_dump
        def mark(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            data["marked"] = True
            return data

    schema = Outer()
    objects: list[Any] = [
        _Thing(12, "3", 1, "yes", {"first": ["a"]}),
        _Thing("x", None, None, 0, {}),
        {"name": "d", "ratio": 2.5, "flag": True, "tags": {"first": "z"}, "inner": [{"word": 1}]},
        {"name": "e", "count": 4.9, "items": "a key named like a dict method"},
    ]
    for obj in objects:
        assert schema.dump(obj) == _plain(schema, obj), obj
    assert schema.dump(objects[0])["count"] == 3 and schema.dump(objects[1])["count"] is None
    assert schema.dump(objects[2])["count"] == 7, "dump_default for a missing value"
    assert "absent" not in schema.dump(objects[2]) and schema.dump(objects[2])["marked"]
    assert (
        schema.dump(objects[0])["firstTag"] == "['a']" and schema.dump(objects[0])["shout"] == "12"
    )
    assert schema.dump(objects[3])["count"] == 4, "a float value becomes an int, as marshmallow's"
    assert compile_dump(Outer(many=True)) is None, "many: marshmallow's own loop"


def test_orjson_provider_writes_what_flasks_json_reads_back_the_same() -> None:
    app = create_app({"INDEX_DIR": "/nonexistent", "WATCH": False})
    default = DefaultJSONProvider(app)
    default.sort_keys = False
    payload = {
        "text": "Bogotá — “quoted” \u2028 <b>&",
        "when": datetime(2026, 11, 30, 12, 0),
        "day": date(2026, 11, 30),
        "n": 2**40,
        "nested": [{"x": 1.5}, None, True],
        3: "int key",
    }
    with app.app_context():
        mine = app.json.dumps(payload)
        flasks = default.dumps(payload, separators=(",", ":"))
        assert json.loads(mine) == json.loads(flasks)
        assert "Bogotá" in mine, "UTF-8, not \\u escapes"
        assert json.loads(app.json.dumps({"big": 2**70}))["big"] == 2**70, (
            "Flask's json past 64 bits"
        )
        assert json.loads(app.json.dumps({"nan": math.nan}))["nan"] is None, "null, not NaN"
        response = app.json.response(payload)
        assert response.mimetype == "application/json"
        assert json.loads(response.get_data()) == json.loads(flasks)
        assert app.json.dumps(payload, indent=2) == default.dumps(payload, indent=2)
