"""Every refusal in the one error shape, and the headers every response carries (issue 17).

Over a real gunicorn (`briefing serve --no-watch`: uploads index themselves), except the CORS
variants, which need differently configured apps and use Flask's test client on the real app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from api import create_app
from tests.serving import Server, copy_seeds

KEY = "refusal-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_BYTES = 100_000
ERROR_KEYS = {"code", "status", "message", "errors"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the seeds with a write key and a 100 KB document limit."""
    base = tmp_path_factory.mktemp("refusals")
    docs = copy_seeds(base / "docs")
    env = {"BRIEFING_API_KEYS": KEY, "BRIEFING_MAX_DOCUMENT_BYTES": str(MAX_BYTES)}
    with Server(docs, base / "index", workers=2, env=env) as srv:
        yield srv


def _shape(response: requests.Response, code: int) -> dict:
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["code"] == code
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return body


def _post_json(server: Server, raw: bytes) -> requests.Response:
    headers = {**AUTH, "Content-Type": "application/json"}
    return requests.post(server.url + "/api/documents", data=raw, headers=headers, timeout=60)


def test_405_names_the_allowed_methods(server: Server) -> None:
    response = requests.delete(server.url + "/api/search", timeout=10)
    _shape(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    response = requests.patch(server.url + "/api/documents/x.txt", headers=AUTH, timeout=10)
    _shape(response, 405)
    assert {"GET", "PUT", "DELETE"} <= set(response.headers["Allow"].replace(" ", "").split(","))


def test_chunked_body_over_the_limit_is_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"filename": "big.txt", "text": "'
        for _ in range(100):  # 6.5 MB, over 3 x 100 KB + framing, sent without Content-Length
            yield b"a" * 65536
        yield b'"}'

    headers = {**AUTH, "Content-Type": "application/json"}
    response = requests.post(server.url + "/api/documents", data=chunks(), headers=headers)
    body = _shape(response, 413)
    assert "limit" in body["message"]


def test_a_small_chunked_upload_still_works(server: Server) -> None:
    payload = {"filename": "chunked.txt", "text": "Chunked note\n\n" + "Cocoa prices rose. " * 20}
    raw = json.dumps(payload).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    response = requests.post(
        server.url + "/api/documents", data=iter([raw[:50], raw[50:]]), headers=headers
    )
    assert response.status_code == 201, response.text


def test_json_nested_100000_deep_is_422(server: Server) -> None:
    body = _shape(_post_json(server, b"[" * 100_000 + b"]" * 100_000), 422)
    assert "nested" in body["message"]


def test_lone_surrogate_in_text_is_422(server: Server) -> None:
    raw = b'{"filename": "s.txt", "text": "Report\\n\\nSome words \\ud800 and more words."}'
    body = _shape(_post_json(server, raw), 422)
    assert list(body["errors"]) == ["text"]


@pytest.mark.parametrize(
    "name",
    [
        "report\u202etxt.exe.txt",  # right-to-left override: shows as report"exe.txt"...
        "a\u2066b.txt",  # left-to-right isolate
        "c1\u0085control.txt",  # C1 NEL
        "tab\there.txt",  # C0
        "half\ud800.txt",  # lone surrogate
    ],
)
def test_spoofing_and_control_names_are_400(server: Server, name: str) -> None:
    raw = json.dumps({"filename": name, "text": "Title\n\nSome body text here."}).encode()
    body = _shape(_post_json(server, raw), 400)
    assert list(body["errors"]) == ["filename"]


def test_multipart_name_that_is_not_utf8_is_400(server: Server) -> None:
    boundary = "xyzzy"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="bad\xff\xfe.txt"\r\n'
        + b"Content-Type: text/plain\r\n\r\nTitle\n\nSome body text here.\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = requests.post(server.url + "/api/documents", data=body, headers=headers)
    _shape(response, 400)


def test_nfc_names_are_one_document(server: Server) -> None:
    text = "Cafe report\n\nThe cafe sold cocoa and coffee to officials in Quito last week."
    decomposed = "cafe\u0301.txt"
    response = requests.put(
        server.url + "/api/documents/" + decomposed,
        data=json.dumps({"text": text}),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["doc_id"] == "caf\u00e9.txt"


@pytest.mark.parametrize("path", ["/api/search?q=oil", "/healthz", "/readyz", "/metrics", "/"])
def test_nosniff_on_every_response(server: Server, path: str) -> None:
    response = requests.get(server.url + path, timeout=10)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_docs_forbid_framing_and_script(server: Server) -> None:
    response = requests.get(server.url + "/api/docs", timeout=10)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "<style>" not in response.text  # the stylesheet is a file the policy allows
    css = requests.get(server.url + "/assets/apidocs.css", timeout=10)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]


def test_a_long_query_is_refused_by_the_app_in_json(server: Server) -> None:
    # 9,000 characters: past gunicorn's finite line limit (8,190), so gunicorn must not be the
    # one answering (it would in HTML); the app's 1,000-character rule answers 422 on q.
    response = requests.get(server.url + "/api/search", params={"q": "a" * 9000}, timeout=10)
    body = _shape(response, 422)
    assert list(body["errors"]) == ["q"]


def _cors_app(tmp_path: Path, origins: str):  # type: ignore[no-untyped-def]
    return create_app(
        {"INDEX_DIR": str(tmp_path / "index"), "DOCS_DIR": str(tmp_path), "CORS_ORIGINS": origins}
    ).test_client()


def test_cors_is_off_by_default(tmp_path: Path) -> None:
    client = _cors_app(tmp_path, "")
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_star_allows_reads_never_writes(tmp_path: Path) -> None:
    client = _cors_app(tmp_path, "*")
    preflight = client.options(
        "/api/documents/x.txt",
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    allowed = preflight.headers.get("Access-Control-Allow-Methods", "")
    assert "DELETE" not in allowed and "PUT" not in allowed and "POST" not in allowed
    read = client.options(
        "/api/search",
        headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"},
    )
    assert read.headers["Access-Control-Allow-Origin"] in {"*", "https://any.example"}


def test_cors_listed_origin_may_write(tmp_path: Path) -> None:
    client = _cors_app(tmp_path, "https://app.example")
    preflight = client.options(
        "/api/documents/x.txt",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    other = client.options(
        "/api/documents/x.txt",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers
