"""PDF, Word and e-mail end to end: `briefing index --json`, the watcher and the write API on a
real gunicorn, observed through the CLI and the HTTP API only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.serving import Server
from tests.test_live import AUTH, KEY, wait_until

BRIEFING = str(Path(sys.executable).parent / "briefing")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DROPPED = ["seed-003.pdf", "two-column.pdf", "report.docx", "briefing.eml", "encrypted.pdf"]
ATTACHMENTS = {"briefing.eml/taiwan-training.pdf", "briefing.eml/tour-note.docx"}


def run_index(docs: Path, index_dir: Path, **env: str) -> dict[str, Any]:
    out = subprocess.run(
        [BRIEFING, "index", str(docs), "--index-dir", str(index_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=300,
    )
    return dict(json.loads(out.stdout))


def listed(index_dir: Path) -> set[str]:
    """doc_ids in the index (read directly: `briefing docs` would add a second per call)."""
    from index.sync import indexed_documents
    from search.store import open_index

    return set(indexed_documents(open_index(index_dir)))


def without_attachment(eml: Path, keep: str) -> bytes:
    """The e-mail with every attachment but `keep` removed."""
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    parts = message.get_payload()
    assert isinstance(parts, list)
    message.set_payload(
        [p for p in parts if p.get_filename() in (None, keep) or not p.get_filename()]
    )
    return bytes(message)


def test_cli_reports_formats_and_skips_and_tracks_attachments(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in [*DROPPED, "scanned.pdf"]:
        shutil.copy(FIXTURES / name, docs / name)
    shutil.copy(SEEDS / "002_cb201ffc96d0d6cf.txt", docs / "002.txt")
    (docs / "memo.doc").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    index_dir = tmp_path / "index"

    first = run_index(docs, index_dir)
    assert first["formats"] == {"txt": 1, "pdf": 3, "docx": 2, "eml": 1}
    assert first["added"] == 7 and first["documents"] == 7
    skipped = {item["path"]: item["reason"] for item in first["skipped"]}
    assert skipped == {
        "encrypted.pdf": "encrypted",
        "scanned.pdf": "no text layer (scanned?)",
        "memo.doc": "legacy Word .doc is not supported; save it as .docx",
    }
    assert listed(index_dir) >= ATTACHMENTS

    # Nothing changed: attachments stay (they have no file of their own) and nothing is redone.
    second = run_index(docs, index_dir)
    assert (second["added"], second["updated"], second["removed"]) == (0, 0, 0)
    assert second["documents"] == 7 and second["formats"] == {}

    # The e-mail changes and loses its Word attachment: that attachment goes.
    (docs / "briefing.eml").write_bytes(
        without_attachment(FIXTURES / "briefing.eml", "taiwan-training.pdf")
    )
    third = run_index(docs, index_dir)
    assert third["documents"] == 6
    ids = listed(index_dir)
    assert "briefing.eml/taiwan-training.pdf" in ids
    assert "briefing.eml/tour-note.docx" not in ids

    # The e-mail is deleted: its attachments go with it (each counts as a removed document).
    (docs / "briefing.eml").unlink()
    fourth = run_index(docs, index_dir)
    assert fourth["removed"] == 2 and fourth["documents"] == 4
    assert not {d for d in listed(index_dir) if d.startswith("briefing.eml")}


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_cli_reads_scans_when_ocr_is_on(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(FIXTURES / "scanned.pdf", docs / "scanned.pdf")
    report = run_index(docs, tmp_path / "index", BRIEFING_OCR="true")
    assert report["formats"] == {"pdf": 1} and report["skipped"] == []
    from search.store import open_index

    with open_index(tmp_path / "index").searcher() as searcher:
        first = searcher.document(passage_id="scanned.pdf#0")
    assert first["title"].startswith("US Secretary of State Rubio Announces Enhanced")
    assert "Costa Rican President Rodrigo Chaves" in " ".join(first["doc_text"].split())
    assert {"CR", "US"} <= set(first["countries"].split(","))


# -- the watcher and the write API on a real gunicorn --------------------------------------------


class FormatsServer(Server):
    """`briefing serve` with the watcher on and a write key."""

    def search(self, **params: Any) -> dict[str, Any]:
        resp = requests.get(f"{self.url}/api/search", params=params, timeout=15)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def doc_ids(self, q: str) -> set[str]:
        return {hit["doc_id"] for hit in self.search(q=q, per_page=100)["hits"]}

    def has(self, doc_id: str) -> bool:
        return self.get(f"/api/documents/{doc_id}").status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FormatsServer]:
    root = tmp_path_factory.mktemp("formats")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(SEEDS / "002_cb201ffc96d0d6cf.txt", docs / "seed.txt")
    env = {"BRIEFING_API_KEYS": KEY, "BRIEFING_WRITE_TIMEOUT": "20"}
    srv = FormatsServer(docs, root / "index", workers=2, watch=True, env=env)
    srv.start(timeout=120)
    yield srv
    srv.stop()


def test_watcher_indexes_a_dropped_pdf(server: FormatsServer) -> None:
    shutil.copy(FIXTURES / "two-column.pdf", server.docs / ".two-column.pdf.tmp")
    os.replace(server.docs / ".two-column.pdf.tmp", server.docs / "dropped.pdf")
    wait_until(lambda: "dropped.pdf" in server.doc_ids("Budapest Convention"), what="pdf drop")
    doc = server.get("/api/documents/dropped.pdf").json()
    assert doc["title"] == "Costa Rica sends intelligence officials to Taiwan for training"
    for passage in doc["passages"]:
        assert doc["text"][passage["start"] : passage["end"]] == passage["text"]
    (server.docs / "dropped.pdf").unlink()
    wait_until(lambda: not server.has("dropped.pdf"), what="pdf removal")


def test_upload_pdf_docx_and_email_then_delete(server: FormatsServer) -> None:
    for name in ("seed-003.pdf", "report.docx"):
        with (FIXTURES / name).open("rb") as handle:
            resp = requests.post(
                f"{server.url}/api/documents",
                files={"file": (f"up/{name}", handle, "application/octet-stream")},
                data={"filename": f"up/{name}"},
                headers=AUTH,
                timeout=60,
            )
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "indexed" and resp.json()["passages"] >= 2
    assert "up/seed-003.pdf" in server.doc_ids("Noboa")
    assert "up/report.docx" in server.doc_ids('"port concessions"')

    with (FIXTURES / "briefing.eml").open("rb") as handle:
        resp = requests.put(
            f"{server.url}/api/documents/mail/briefing.eml",
            files={"file": ("briefing.eml", handle, "message/rfc822")},
            headers=AUTH,
            timeout=60,
        )
    assert resp.status_code == 201, resp.text
    attachments = {f"mail/{a}" for a in ATTACHMENTS}
    wait_until(lambda: all(server.has(a) for a in attachments), what="attachments")
    assert "mail/briefing.eml/tour-note.docx" in server.doc_ids('"deportation flights"')

    resp = requests.delete(
        f"{server.url}/api/documents/mail/briefing.eml", headers=AUTH, timeout=60
    )
    assert resp.status_code == 200, resp.text
    wait_until(lambda: not any(server.has(a) for a in attachments), what="attachments removed")


def test_upload_refusals_name_the_accepted_types(server: FormatsServer) -> None:
    resp = requests.post(
        f"{server.url}/api/documents",
        files={"file": ("slides.pptx", b"PK\x03\x04 not really", "application/octet-stream")},
        headers=AUTH,
        timeout=30,
    )
    assert resp.status_code == 415
    for suffix in (".pdf", ".docx", ".eml", ".txt", ".md", ".html"):
        assert suffix in resp.json()["message"]
    with (FIXTURES / "encrypted.pdf").open("rb") as handle:
        resp = requests.post(
            f"{server.url}/api/documents",
            files={"file": ("locked.pdf", handle, "application/pdf")},
            headers=AUTH,
            timeout=30,
        )
    assert resp.status_code == 422 and resp.json()["message"] == "encrypted"
    resp = requests.post(
        f"{server.url}/api/documents",
        json={"filename": "typed.pdf", "text": "Not a PDF"},
        headers=AUTH,
        timeout=30,
    )
    assert resp.status_code == 415
    assert not (server.docs / "locked.pdf").exists() and not (server.docs / "typed.pdf").exists()


def test_pages_and_parents_reach_hits_documents_and_the_cli(server: FormatsServer) -> None:
    shutil.copy(FIXTURES / "running-headers.pdf", server.docs / ".paged.pdf.tmp")
    os.replace(server.docs / ".paged.pdf.tmp", server.docs / "paged.pdf")
    shutil.copy(FIXTURES / "briefing.eml", server.docs / ".mail.eml.tmp")
    os.replace(server.docs / ".mail.eml.tmp", server.docs / "mail.eml")
    wait_until(lambda: server.has("paged.pdf") and server.has("mail.eml"), what="drops")
    doc = server.get("/api/documents/paged.pdf").json()
    starts = doc["page_starts"]
    assert starts[0] == 0 and starts == sorted(starts) and len(starts) >= 2
    for passage in doc["passages"]:
        # A passage's page is the page its first character is on, its page_end its last's.
        assert starts[passage["page"] - 1] <= passage["start"]
        assert passage["page"] == len([s for s in starts if s <= passage["start"]])
        assert passage["page_end"] == len([s for s in starts if s < passage["end"]])
    assert {p["page"] for p in doc["passages"]} >= {1, 2}
    hits = server.search(q="", doc_id="paged.pdf", per_page=100)["hits"]
    assert {(h["passage_id"], h["page"]) for h in hits} == {
        (p["passage_id"], p["page"]) for p in doc["passages"]
    }
    seed = server.get("/api/documents/seed.txt").json()
    assert seed["page_starts"] is None and seed["passages"][0]["page"] is None
    attachment = "mail.eml/" + sorted(ATTACHMENTS)[0].split("/", 1)[1]
    wait_until(lambda: server.has(attachment), what="attachment")
    assert server.get(f"/api/documents/{attachment}").json()["parent"] == "mail.eml"
    assert server.get("/api/documents/mail.eml").json()["parent"] is None
    text = subprocess.run(
        [BRIEFING, "search", "--doc-id", "paged.pdf", "--per-page", "100"]
        + ["--index-dir", str(server.index_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for passage in doc["passages"]:
        line = next(li for li in text.splitlines() if li.startswith(passage["passage_id"] + " "))
        pages = passage["page"], passage["page_end"]
        label = f"p. {pages[0]}" if pages[0] == pages[1] else f"pp. {pages[0]}–{pages[1]}"
        assert line.endswith(f", {label})"), line
