"""PDF, Word and e-mail: extracted passages, pages, metadata and tags, on real files.

The fixtures in tests/fixtures/ are built from the seeds by tests/fixtures/make_fixtures.py.
Hostile files (zip bomb, recursive PDF, 10,000 attachments, truncated files) are made here.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest

from index.errors import DocumentSkipped, UnsupportedFormat
from index.model import ParsedDocument
from index.pipeline import parse_file
from index.readers import ReadOptions, read_file
from index.readers import sandbox as sandbox_module
from index.readers.mail import MAX_PARTS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEEDS = ROOT / "seeds"
SEED = "003_ea86780b6957a22a.txt"
# Hostile files must be refused quickly, not at the sandbox's 120 s timeout.
QUICK = 20.0


def parse(path: Path, options: ReadOptions | None = None) -> list[ParsedDocument | tuple[str, str]]:
    """parse_file with doc_ids relative to the file's folder."""
    return parse_file(path.parent, path, options=options)


def document(path: Path, options: ReadOptions | None = None) -> ParsedDocument:
    """The file's own document."""
    first = parse(path, options)[0]
    assert isinstance(first, ParsedDocument)
    return first


def squash(text: str) -> str:
    """Text with every run of whitespace as one space."""
    return " ".join(text.split())


def assert_offsets_and_pages(doc: ParsedDocument) -> None:
    """text[start:end] is every passage; page and page_end bracket its offsets."""
    for passage in doc.passages:
        assert doc.text[passage.start : passage.end] == passage.text
        if doc.pages is None:
            assert passage.page is None and passage.page_end is None
            continue
        assert passage.page is not None and passage.page_end is not None
        assert 1 <= passage.page <= passage.page_end <= len(doc.pages)
        assert doc.pages[passage.page - 1] <= passage.start
        if passage.page < len(doc.pages):
            assert passage.start < doc.pages[passage.page] or passage.page == passage.page_end
        assert doc.pages[passage.page_end - 1] < passage.end


# -- a seed as PDF and as Word reads like the .txt -----------------------------------------------


@pytest.mark.parametrize("name", ["seed-003.pdf", "seed-003.docx"])
def test_seed_as_pdf_and_docx_matches_the_txt(name: str) -> None:
    txt = document(SEEDS / SEED)
    doc = document(FIXTURES / name)
    assert doc.metadata.title == txt.metadata.title
    assert doc.metadata.date == txt.metadata.date == "2025-11-02"
    assert doc.metadata.byline == txt.metadata.byline
    assert doc.countries == txt.countries
    assert doc.topics == txt.topics
    assert [squash(p.text) for p in doc.passages] == [squash(p.text) for p in txt.passages]
    assert [p.countries for p in doc.passages] == [p.countries for p in txt.passages]
    assert_offsets_and_pages(doc)


def test_seed_pdf_passages_carry_pages() -> None:
    doc = document(FIXTURES / "seed-003.pdf")
    assert doc.format == "pdf" and doc.pages is not None and len(doc.pages) == 2
    pages = [(p.page, p.page_end) for p in doc.passages]
    assert pages[0] == (1, 1) and pages[-1] == (2, 2)
    assert any(start != end for start, end in pages), "one passage runs across the page break"
    starts = [start for start, _ in pages]
    assert starts == sorted(starts)


# -- PDF layout ----------------------------------------------------------------------------------


def test_two_column_pdf_reads_left_column_then_right() -> None:
    doc = document(FIXTURES / "two-column.pdf")
    text = squash(doc.text)
    assert doc.metadata.title == "Costa Rica sends intelligence officials to Taiwan for training"
    assert doc.metadata.source == "Taiwan News"
    # Every paragraph of the seed comes out whole and in order: no line of the right column
    # is interleaved with the left one.
    lines = [squash(line) for line in (SEEDS / "002_cb201ffc96d0d6cf.txt").read_text().splitlines()]
    positions = [text.find(line) for line in lines if line]
    assert -1 not in positions
    assert positions == sorted(positions)
    assert doc.countries[:3] == ["TW", "CR", "CN"]
    assert "china-influence" in doc.topics
    assert_offsets_and_pages(doc)


def test_running_headers_footers_and_page_numbers_stay_out() -> None:
    doc = document(FIXTURES / "running-headers.pdf")
    assert doc.pages is not None and len(doc.pages) == 3
    for chrome in ("REGIONAL SECURITY DIGEST", "For internal use", "Briefing Search fixtures"):
        assert chrome not in doc.text
    assert "Page 2" not in doc.text and "Page 3" not in doc.text
    # Hyphenated line ends joined, ligatures spelled out.
    assert "an increasingly complex picture of financial flows and trafficking" in doc.text
    assert "more regional cooperation" in doc.text
    assert not any(ch in doc.text for ch in "ﬁﬂﬀﬃﬄ")
    assert "in-" not in doc.text.replace("in-depth", "")
    assert doc.metadata.title.startswith("Marco Rubio heads to Costa Rica and Guatemala")
    assert doc.metadata.byline == "Zander Hawthorne"
    assert {p.page for p in doc.passages} == {1, 2, 3}
    assert_offsets_and_pages(doc)


def test_pdf_metadata_fills_what_the_text_lacks() -> None:
    # The running-headers PDF's text has no date line: the info dictionary's date is used.
    assert document(FIXTURES / "running-headers.pdf").metadata.date == "2025-09-15"
    # The seed's text has a date: it wins over the info dictionary's.
    assert document(FIXTURES / "seed-003.pdf").metadata.date == "2025-11-02"


def test_encrypted_pdf_with_an_empty_password_is_read() -> None:
    doc = document(FIXTURES / "encrypted-open.pdf")
    assert doc.metadata.title == "Strengthening U.S.-Latin America Relations Through Diplomacy"
    assert "US" in doc.countries


def test_encrypted_pdf_is_skipped() -> None:
    with pytest.raises(DocumentSkipped) as err:
        parse(FIXTURES / "encrypted.pdf")
    assert err.value.reason == "encrypted"


def test_scanned_pdf_is_skipped_without_ocr() -> None:
    with pytest.raises(DocumentSkipped) as err:
        parse(FIXTURES / "scanned.pdf", ReadOptions(ocr=False))
    assert err.value.reason == "no text layer (scanned?)"


# -- Word ----------------------------------------------------------------------------------------


def test_docx_headings_lists_and_tables_in_document_order() -> None:
    doc = document(FIXTURES / "report.docx")
    assert doc.format == "docx" and doc.pages is None
    text = doc.text
    order = [
        "U.S. diplomacy in Latin America",
        "Countries on the itinerary",
        "- Panama: canal and Chinese ports",
        "Commitments by country",
        "Country | Topic | Commitment",
        "Panama | China influence | Review of port concessions held by Chinese firms",
        "Outlook",
    ]
    positions = [text.find(item) for item in order]
    assert -1 not in positions and positions == sorted(positions)
    # Headings start passages, as in HTML.
    starts = [p.text.split("\n")[0] for p in doc.passages]
    assert "Commitments by country" in starts or "Countries on the itinerary" in starts
    # Title from the text first; author and date from the core properties.
    assert doc.metadata.title == "U.S. diplomacy in Latin America"
    assert doc.metadata.byline == "Policy Planning Staff"
    assert doc.metadata.date == "2025-03-04"
    assert {"PA", "SV", "GT", "CR", "DO"} <= set(doc.countries)
    assert_offsets_and_pages(doc)


def test_docx_title_from_core_properties_when_the_text_has_none(tmp_path: Path) -> None:
    word = docx.Document()
    word.core_properties.title = "Quarterly migration note"
    word.add_paragraph(
        "Migration through the Darién Gap fell sharply this quarter, officials in Panama said, "
        "as new controls took effect along the border with Colombia."
    )
    word.add_paragraph("Smuggling networks moved to maritime routes along the Pacific coast.")
    path = tmp_path / "note.docx"
    word.save(str(path))
    doc = document(path)
    assert doc.metadata.title == "Quarterly migration note"
    assert "PA" in doc.countries and "migration" in doc.topics


def test_legacy_doc_is_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "memo.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    with pytest.raises(UnsupportedFormat) as err:
        read_file(path)
    assert err.value.reason == "legacy Word .doc is not supported; save it as .docx"


# -- e-mail --------------------------------------------------------------------------------------


def test_email_headers_body_and_attachments() -> None:
    results = parse(FIXTURES / "briefing.eml")
    mail, pdf, word = results
    assert isinstance(mail, ParsedDocument)
    assert isinstance(pdf, ParsedDocument) and isinstance(word, ParsedDocument)
    meta = mail.metadata
    assert meta.title == "Costa Rica security cooperation: notes from San José"
    assert meta.date == "2025-09-12"
    assert meta.byline == "Ana Gómez"
    assert meta.source == "Ministry of Foreign Affairs of Costa Rica"
    assert mail.format == "eml" and mail.parent is None
    assert {"CR", "TW", "CN"} <= set(mail.countries)
    # Quoted reply and signature are not the sender's words.
    assert "Could you send us" not in mail.text and "wrote:" not in mail.text
    assert "Tel. +506" not in mail.text and "Dirección de Política Exterior" not in mail.text
    assert "five intelligence officials to Taiwan" in mail.text
    assert pdf.doc_id == "briefing.eml/taiwan-training.pdf" and pdf.parent == "briefing.eml"
    assert word.doc_id == "briefing.eml/tour-note.docx" and word.parent == "briefing.eml"
    assert pdf.format == "pdf" and [p.page for p in pdf.passages] == [1] * len(pdf.passages)
    assert word.metadata.byline == "Policy Planning Staff"
    assert pdf.metadata.source == "Taiwan News"
    for doc in (mail, pdf, word):
        assert_offsets_and_pages(doc)


def _email(tmp_path: Path, name: str, attachments: list[tuple[str, bytes]], **headers: str) -> Path:
    msg = EmailMessage()
    msg["From"] = headers.get("From", "Luis Pérez <lperez@mre.gob.ec>")
    msg["Subject"] = headers.get("Subject", "Ecuador border security update")
    msg["Date"] = "Tue, 07 Oct 2025 09:15:00 -0500"
    msg.set_content(
        "Ecuador deployed troops to the border with Colombia after a spike in violence linked to "
        "drug trafficking groups.\n\nSent from my iPhone\n"
    )
    for filename, payload in attachments:
        msg.add_attachment(
            payload, maintype="application", subtype="octet-stream", filename=filename
        )
    path = tmp_path / name
    path.write_bytes(bytes(msg))
    return path


def test_email_source_from_the_sender_domain_and_unsafe_attachment_names(tmp_path: Path) -> None:
    text = b"Panama canal review\n\nPanama reviewed port concessions held by Chinese firms on the canal.\n"
    path = _email(
        tmp_path,
        "mail.eml",
        [("../../../etc/notes.txt", text), ("..\\..\\notes.txt", text), ("logo.png", b"\x89PNG")],
    )
    results = parse(path)
    mail = results[0]
    assert isinstance(mail, ParsedDocument)
    assert mail.metadata.source == "mre.gob.ec"
    assert mail.metadata.byline == "Luis Pérez"
    assert "Sent from my iPhone" not in mail.text
    ids = [r.doc_id if isinstance(r, ParsedDocument) else r[0] for r in results[1:]]
    assert ids == ["mail.eml/notes.txt", "mail.eml/notes (2).txt"]  # the PNG is no document
    assert all(isinstance(r, ParsedDocument) and r.parent == "mail.eml" for r in results[1:])


def test_email_with_ten_thousand_attachments_is_skipped_quickly(tmp_path: Path) -> None:
    boundary = "b0undary"
    part = (
        f"--{boundary}\r\nContent-Type: text/plain\r\n"
        'Content-Disposition: attachment; filename="a.txt"\r\n\r\nx\r\n'
    )
    raw = (
        "From: x@example.org\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        + part * 10_000
        + f"--{boundary}--\r\n"
    )
    path = tmp_path / "bomb.eml"
    path.write_text(raw)
    started = time.monotonic()
    with pytest.raises(DocumentSkipped) as err:
        parse(path)
    assert err.value.reason == f"e-mail has over {MAX_PARTS} parts"
    assert time.monotonic() - started < QUICK


# -- hostile and broken files --------------------------------------------------------------------


def test_zip_bomb_docx_is_skipped_quickly(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (64 * 1024 * 1024))
    path = tmp_path / "bomb.docx"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(DocumentSkipped) as err:
        parse(path)
    assert "zip bomb" in err.value.reason
    assert time.monotonic() - started < QUICK


def test_pdf_with_a_recursive_page_tree_is_skipped_quickly(tmp_path: Path) -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 /Parent 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 /Parent 3 0 R >>",
    ]
    body = b"%PDF-1.7\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path = tmp_path / "loop.pdf"
    path.write_bytes(body)
    started = time.monotonic()
    with pytest.raises(DocumentSkipped) as err:
        parse(path)
    assert err.value.reason in {
        "no text layer (scanned?)",
        "not a readable PDF (damaged or truncated)",
    }
    assert time.monotonic() - started < QUICK


@pytest.mark.parametrize("name", ["seed-003.pdf", "report.docx", "briefing.eml"])
def test_truncated_files_are_read_in_part_or_skipped(tmp_path: Path, name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    try:
        results = parse(path)
    except DocumentSkipped as exc:
        assert exc.reason
        return
    for result in results:
        if isinstance(result, ParsedDocument):
            assert_offsets_and_pages(result)
        else:
            assert result[1]


def test_garbage_named_pdf_or_docx_is_skipped(tmp_path: Path) -> None:
    for name, reason in (
        ("fake.pdf", "not a readable PDF (damaged or truncated)"),
        ("fake.docx", "not a readable Word file (damaged or truncated)"),
    ):
        path = tmp_path / name
        path.write_bytes(b"this is not what the name says " * 20)
        with pytest.raises(DocumentSkipped) as err:
            parse(path)
        assert err.value.reason == reason


def test_size_limit_applies_per_type(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    shutil.copy(FIXTURES / "seed-003.pdf", path)
    with pytest.raises(DocumentSkipped) as err:
        parse(path, ReadOptions(max_pdf_bytes=10_000))
    assert err.value.reason.startswith("file is 26.5 KB, over the 9.8 KB limit")
    # The text limit does not apply to PDFs.
    assert document(path, ReadOptions(max_bytes=100, max_pdf_bytes=1_000_000)).passages


def test_sandbox_recovers_after_its_reader_process_dies() -> None:
    assert document(FIXTURES / "two-column.pdf").passages
    child = sandbox_module._child
    assert child is not None
    child.kill()  # as if a hostile file had made it crash or run out of memory
    doc = document(FIXTURES / "two-column.pdf")
    assert doc.passages and sandbox_module._child is not child
