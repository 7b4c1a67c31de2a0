"""Readers: each format becomes plain text; anything unreadable is skipped with a reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from index.errors import DocumentTooLarge, EmptyDocument, UndecodableDocument, UnsupportedFormat
from index.metadata import extract_metadata
from index.pipeline import content_hash, parse_file
from index.readers import read_document, read_file

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

HTML = """<!doctype html>
<html><head>
<title>Rubio Visits Panama | Briefing Daily</title>
<meta property="og:site_name" content="Briefing Daily">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2025-02-02T09:30:00Z">
<style>.secret-style { color: red }</style>
<script>var trackingSecret = "do-not-index";</script>
</head><body>
<header><nav><a href="/">Home</a> <a href="/world">World menu</a></nav></header>
<aside>Sidebar promo</aside>
<article>
  <h1>Rubio Visits Panama</h1>
  <p>The Secretary of State   arrived in <b>Panama City</b> on Sunday &amp; met officials.</p>
  <h2>Canal Talks</h2>
  <p>Talks focused on the canal.<br>Ports were discussed too.</p>
  <ul><li>Migration</li><li>Security <em>cooperation</em></li></ul>
  <table><tr><th>Country</th><th>Focus</th></tr><tr><td>Panama</td><td>Canal</td></tr></table>
  <script>document.write("inline script text")</script>
  <form><input name="q"><button>Subscribe button</button></form>
</article>
<footer>Copyright footer text</footer>
</body></html>
"""

MARKDOWN = """# Rubio in *Guatemala*

Talks on **migration** and [security](https://example.com/security) continued.

## Next Steps

* First item
* Second item with `code`

| Country | Focus |
|---------|-------|
| Guatemala | Migration |
"""


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_seed_text_is_read_verbatim() -> None:
    path = SEEDS / "000_d033478f65d302a4.txt"
    text, fmt = read_document(path)
    assert fmt == "txt"
    assert text == path.read_text(encoding="utf-8")


def test_txt_strips_bom_and_normalises_newlines(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.TXT", b"\xef\xbb\xbfTitle line\r\nBody one.\rBody two.\r\n")
    assert read_document(path) == ("Title line\nBody one.\nBody two.\n", "txt")


def test_a_text_files_digest_is_its_content_hash(tmp_path: Path) -> None:
    # The indexer takes the reader's digest as the file's content hash (no second read).
    data = b"\xef\xbb\xbfTitle line\r\nBody one.\r\n"
    path = write(tmp_path, "crlf.txt", data)
    assert read_file(path).digest == hashlib.sha256(data).hexdigest() == content_hash(path)
    assert parse_file(tmp_path, path)[0].content_hash == content_hash(path)  # type: ignore[union-attr]


def test_html_keeps_main_text_and_block_structure(tmp_path: Path) -> None:
    text, fmt = read_document(write(tmp_path, "page.html", HTML))
    assert fmt == "html"
    for hidden in (
        "trackingSecret",
        "secret-style",
        "inline script text",
        "World menu",
        "Sidebar promo",
        "Subscribe button",
        "Copyright footer text",
    ):
        assert hidden not in text
    assert "The Secretary of State arrived in Panama City on Sunday & met officials." in text
    assert "\n\nCanal Talks\n\n" in text
    assert "Talks focused on the canal.\nPorts were discussed too." in text
    assert "- Migration\n- Security cooperation" in text
    assert "Country | Focus\nPanama | Canal" in text


def test_html_head_metadata_reaches_extract_metadata(tmp_path: Path) -> None:
    text, _ = read_document(write(tmp_path, "page.htm", HTML))
    metadata = extract_metadata(text)
    assert (metadata.title, metadata.date, metadata.source, metadata.byline) == (
        "Rubio Visits Panama",
        "2025-02-02",
        "Briefing Daily",
        "Jane Doe",
    )


def test_html_title_without_site_suffix_when_h1_is_in_header(tmp_path: Path) -> None:
    html = (
        "<html><head><title>Quito Talks - Andes Wire</title>"
        '<meta property="og:site_name" content="Andes Wire"></head>'
        "<body><header><h1>Quito Talks</h1></header><main><p>Officials met.</p></main></body></html>"
    )
    text, _ = read_document(write(tmp_path, "quito.html", html))
    assert text == "Quito Talks\nSource: Andes Wire\n\nOfficials met."
    assert extract_metadata(text).title == "Quito Talks"


def test_markdown_reads_like_text(tmp_path: Path) -> None:
    text, fmt = read_document(write(tmp_path, "note.md", MARKDOWN))
    assert fmt == "md"
    assert text.splitlines()[0] == "Rubio in Guatemala"
    assert "Talks on migration and security continued." in text
    assert "\nNext Steps\n" in text
    assert "- First item\n- Second item with code" in text
    assert "Country | Focus\nGuatemala | Migration" in text
    assert "#" not in text and "*" not in text and "](" not in text


def test_markdown_suffix_alias(tmp_path: Path) -> None:
    assert read_document(write(tmp_path, "note.markdown", "Plain words.\n"))[1] == "md"


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    sentence = (
        "Le président a visité São Paulo et Bogotá; la réunion à Brasília était très animée.\n"
    )
    text, _ = read_document(write(tmp_path, "latin.txt", sentence.encode("latin-1")))
    assert text == sentence


def test_nul_byte_means_binary(tmp_path: Path) -> None:
    with pytest.raises(UndecodableDocument) as err:
        read_document(write(tmp_path, "blob.txt", b"some text\x00\x01\x02 more"))
    assert err.value.reason == "binary or undecodable content"


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(EmptyDocument) as err:
        read_document(write(tmp_path, "empty.txt", data))
    assert err.value.reason == "empty document"


def test_html_without_text_is_empty(tmp_path: Path) -> None:
    html = "<html><body><nav>Menu</nav><script>x()</script></body></html>"
    with pytest.raises(EmptyDocument):
        read_document(write(tmp_path, "blank.html", html))


def test_file_over_limit_is_refused_with_sizes(tmp_path: Path) -> None:
    with pytest.raises(DocumentTooLarge) as err:
        read_document(write(tmp_path, "big.txt", "x" * 150), max_bytes=100)
    assert err.value.reason == "file is 150 bytes, over the 100 bytes limit"


def test_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:  # sparse: 25.3 MB on paper, nothing on disk
        handle.truncate(int(25.3 * 1024 * 1024))
    with pytest.raises(DocumentTooLarge) as err:
        read_document(path)
    assert err.value.reason == "file is 25.3 MB, over the 20 MB limit"


def test_a_file_growing_after_its_stat_is_read_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is written with 150 bytes; its stat reports 60, as if it grew after the stat.
    path = write(tmp_path, "growing.txt", "Growing wire copy\n\n" + "word " * 26 + "end")
    real_stat = Path.stat

    def stale_stat(self: Path, **kwargs: object) -> object:
        result = real_stat(self, **kwargs)  # type: ignore[arg-type]
        if self.name != "growing.txt":
            return result
        return type("Stat", (), {"st_size": 60, "st_mtime": result.st_mtime})()

    monkeypatch.setattr(Path, "stat", stale_stat)
    text, _ = read_document(path, max_bytes=200)
    assert text.endswith("word end") and text.count("word") == 26  # all of it, not 60 bytes
    with pytest.raises(DocumentTooLarge) as err:
        read_document(path, max_bytes=100)
    assert err.value.reason == "file is 101 bytes, over the 100 bytes limit"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("slides.pptx", "unsupported file type .pptx"),
        ("memo.doc", "legacy Word .doc is not supported; save it as .docx"),
        ("README", "unsupported file type (no extension)"),
    ],
)
def test_unsupported_suffix(tmp_path: Path, name: str, reason: str) -> None:
    with pytest.raises(UnsupportedFormat) as err:
        read_document(write(tmp_path, name, "text"))
    assert err.value.reason == reason
