"""GET /api/documents/<id> pages its passages (issue 17: a 19 MB upload answered 43.6 MB of JSON).

The landed contract holds for ordinary documents: the full text and every passage, unasked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from search.searching import DOCUMENT_INLINE_BYTES, DOCUMENT_PAGE_SIZE
from tests.serving import Server, copy_seeds

HUAWEI_DOC = "002_cb201ffc96d0d6cf.txt"
PARAGRAPH = (
    "Officials in Quito said the customs agreement covers port inspections, shipping manifests "
    "and cargo scanning, and that the ministry would publish monthly figures on seizures, "
    "arrests and extraditions for the rest of the year, according to the statement.\n\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the seeds plus one document just over the inline size."""
    base = tmp_path_factory.mktemp("big")
    docs = copy_seeds(base / "docs")
    repeats = DOCUMENT_INLINE_BYTES // len(PARAGRAPH) + 10
    body = "".join(f"Section {n}. {PARAGRAPH}" for n in range(repeats))
    (docs / "big.txt").write_text("A very long customs report\n\n" + body)
    # The start-up sync indexes the big document's ~1,500 passages first.
    srv = Server(docs, base / "index", workers=2).start(timeout=300)
    try:
        yield srv
    finally:
        srv.stop()


def _get(server: Server, doc_id: str, **params: object) -> dict:
    response = requests.get(f"{server.url}/api/documents/{doc_id}", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_ordinary_document_answers_as_before(server: Server) -> None:
    doc = _get(server, HUAWEI_DOC)
    assert doc["text"] and doc["text_included"] is True
    assert len(doc["passages"]) == doc["passages_total"] == doc["passages"][-1]["ordinal"] + 1
    assert doc["per_page"] is None and doc["pages"] == 1


def test_an_ordinary_document_pages_on_request(server: Server) -> None:
    doc = _get(server, HUAWEI_DOC, page=2, per_page=1)
    assert [p["ordinal"] for p in doc["passages"]] == [1]
    assert doc["page"] == 2 and doc["per_page"] == 1 and doc["text"]
    assert doc["pages"] == doc["passages_total"] > 1


def test_a_big_document_is_paged_without_its_text(server: Server) -> None:
    doc = _get(server, "big.txt")
    assert doc["text"] is None and doc["text_included"] is False
    assert len(doc["passages"]) == DOCUMENT_PAGE_SIZE < doc["passages_total"]
    assert doc["pages"] == -(-doc["passages_total"] // DOCUMENT_PAGE_SIZE)
    last = _get(server, "big.txt", page=doc["pages"], per_page=DOCUMENT_PAGE_SIZE)
    assert last["passages"][-1]["ordinal"] == doc["passages_total"] - 1


def test_a_big_documents_text_on_request(server: Server) -> None:
    doc = _get(server, "big.txt", include="text", per_page=1)
    assert len(doc["text"].encode()) > DOCUMENT_INLINE_BYTES and len(doc["passages"]) == 1


def test_bad_paging_is_422(server: Server) -> None:
    for params in ({"page": 0}, {"per_page": 5000}, {"include": "everything"}):
        response = requests.get(f"{server.url}/api/documents/{HUAWEI_DOC}", params=params)
        assert response.status_code == 422, (params, response.text)


def test_the_upload_check_agrees_with_the_indexer_past_its_prefix(tmp_path: Path) -> None:
    """Uploads are checked without tagging and with a chunked prefix only (the full parse of a
    20 MB text ran past gunicorn's worker timeout). Body text after a long blank stretch still
    counts, and the check says what the indexer would do with each text."""
    from index.pipeline import CHECK_PREFIX_CHARS, check_file, parse_file

    late_body = tmp_path / "late.txt"
    late_body.write_text("Customs Review\n\n" + "\n" * CHECK_PREFIX_CHARS + PARAGRAPH * 3)
    assert check_file(late_body) is True
    texts = [
        "Customs Review\n\n" + "\n" * CHECK_PREFIX_CHARS + PARAGRAPH * 3,
        "Customs Review\n\n" + " \n" * CHECK_PREFIX_CHARS,
        "Customs Review\n\n" + PARAGRAPH,
        "\n\n" + "*" * 40 + "\n",
    ]
    for n, text in enumerate(texts):
        path = tmp_path / f"sample-{n}.txt"
        path.write_text(text)
        parsed = parse_file(tmp_path, path)[0]
        assert check_file(path) is bool(parsed.passages), text[:40]  # type: ignore[union-attr]
