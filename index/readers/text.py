"""Text formats: .txt, Markdown and HTML bytes become the document's plain text."""

from __future__ import annotations

import re
from collections.abc import Callable

from charset_normalizer import from_bytes
from selectolax.lexbor import LexborHTMLParser, LexborNode

from index.errors import EmptyDocument, UndecodableDocument

BINARY_REASON = "binary or undecodable content"
EMPTY_REASON = "empty document"

# Control characters other than tab, newline, carriage return and form feed: real text has
# almost none, so a decoded result full of them means we guessed an encoding for binary data.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NEWLINES = re.compile(r"\r\n?")


def text_from_bytes(data: bytes, fmt: str) -> str:
    """The plain text of a .txt, Markdown or HTML file's bytes (fmt "txt", "md" or "html")."""
    if not data.strip():
        raise EmptyDocument(EMPTY_REASON)
    return _CONVERTERS[fmt](_NEWLINES.sub("\n", decode_bytes(data)))


def html_to_text(html: str) -> str:
    """The main text of an HTML page, as the .html reader gives it."""
    return _html(_NEWLINES.sub("\n", html))


def decode_bytes(data: bytes) -> str:
    """Decode bytes as UTF-8 (BOM stripped), else the best detected charset, else raise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 legitimately contains NUL bytes, so honour its BOM before the binary check.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UndecodableDocument(BINARY_REASON) from exc
    if b"\x00" in data:
        raise UndecodableDocument(BINARY_REASON)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _detect(data)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise UndecodableDocument(BINARY_REASON)
    return text


def _detect(data: bytes) -> str:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UndecodableDocument(BINARY_REASON)
    encoding = best.encoding
    # On short texts the detector often ties Windows-1252 with Central European or Baltic code
    # pages; for English-language briefings the Western one is far more likely to be right.
    for match in matches:
        if (
            match.encoding == "cp1252"
            and match.chaos <= best.chaos
            and match.coherence >= best.coherence - 0.05
        ):
            encoding = "cp1252"
            break
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UndecodableDocument(BINARY_REASON) from exc


# --- plain text ------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return text


# --- Markdown --------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.S)
_FRONT_TITLE = re.compile(r"^title:\s*[\"']?(.*?)[\"']?\s*$", re.M)
_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BULLET = re.compile(r"^(\s*)[*+]\s+")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_EM_UNDER = re.compile(r"(?<![_\w])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![_\w])")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")


def _markdown(text: str) -> str:
    """Markdown as a reader sees it: headings without hashes, no emphasis markers or link syntax."""
    lines: list[str] = []
    front = _FRONT_MATTER.match(text)
    if front:
        title = _FRONT_TITLE.search(front.group(1))
        if title and title.group(1):
            lines.extend([title.group(1), ""])
        text = text[front.end() :]
    in_code = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:  # code is kept verbatim
            lines.append(line)
            continue
        if _SETEXT.match(line) and lines and lines[-1].strip():
            continue  # the underline of a setext heading: the line above is the heading
        if "|" in line and _TABLE_SEP.match(line):
            continue  # a table's |---|---| row: the rows around it read fine without it
        if _RULE.match(line) or _LINK_DEF.match(line):
            lines.append("")
            continue
        heading = _ATX.match(line)
        if heading:
            lines.append(_inline(heading.group(1)))
            continue
        line = _QUOTE.sub("", line)
        line = _BULLET.sub(r"\1- ", line)
        if line.lstrip().startswith("|") and line.rstrip().endswith("|"):
            cells = [_inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
            line = " | ".join(cells)
        else:
            line = _inline(line)
        lines.append(line)
    return "\n".join(lines)


def _inline(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _STRONG.sub(r"\2", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDER.sub(r"\1", text)
    return _ESCAPE.sub(r"\1", text)


# --- HTML ------------------------------------------------------------------------------------

# Chrome around the article, and elements whose text is never prose.
_DROP = (
    "script, style, noscript, template, nav, header, footer, aside, form, iframe, svg, canvas,"
    " button, select, textarea, input, [role=navigation], [role=banner], [role=contentinfo],"
    " [role=complementary], [hidden], [aria-hidden=true]"
)
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "blockquote", "body", "center", "dd", "details", "dialog"),
        *("div", "dl", "dt", "fieldset", "figcaption", "figure", "hgroup", "html", "legend"),
        *("main", "p", "pre", "section", "summary"),
    }
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _html(text: str) -> str:
    """The article's text: title and byline lines first, then paragraphs separated by blank lines."""
    tree = LexborHTMLParser(text)
    header = _html_header(tree)
    for node in tree.css(_DROP):
        node.decompose()
    root = (
        tree.css_first("article")
        or tree.css_first("main")
        or tree.css_first("[role=main]")
        or tree.body
        or tree.root
    )
    blocks = _Blocks()
    if root is not None:
        blocks.walk(root)
    body = blocks.finish()
    if not body:
        return ""
    first_heading = root.css_first("h1") if root is not None else None
    heading = _clean(first_heading.text()) if first_heading is not None else ""
    title = header.pop(0) if header and header[0] else ""
    # Pages title themselves "Headline | Site": the body's own h1 is the better title line.
    if title and not (heading and heading in title):
        header.insert(0, title)
    lines = [line for line in header if line]
    return "\n\n".join(["\n".join(lines), *body] if lines else body)


def _html_header(tree: LexborHTMLParser) -> list[str]:
    """[title, "By author", ISO date, "Source: site"] from the page's head, blank when absent."""
    site = _meta(tree, "og:site_name")
    title = _meta(tree, "og:title")
    if not title:
        # <title> is often "Headline | Site" or "Headline - Site": keep the headline.
        title = _text(tree.css_first("title")).split(" | ")[0]
        for dash in (" - ", " – ", " — "):
            if site and title.endswith(dash + site):
                title = title.removesuffix(dash + site)
    author = _meta(tree, "author")
    published = _meta(tree, "article:published_time")
    if not published:
        time = tree.css_first("time[datetime]")
        if time is not None:
            published = time.attributes.get("datetime") or ""
    date = _ISO_DATE.match(published.strip())
    return [
        title,
        f"By {author}" if author else "",
        date.group(0) if date else "",
        f"Source: {site}" if site else "",
    ]


def _meta(tree: LexborHTMLParser, key: str) -> str:
    node = tree.css_first(f'meta[property="{key}"]') or tree.css_first(f'meta[name="{key}"]')
    if node is None:
        return ""
    return _clean(node.attributes.get("content") or "")


def _text(node: LexborNode | None) -> str:
    return _clean(node.text()) if node is not None else ""


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _Blocks:
    """Walks a DOM tree and collects its text as blocks: paragraphs, headings, lists, tables."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.inline: list[str] = []

    def finish(self) -> list[str]:
        self.flush()
        return self.blocks

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        # <br> became "\n"; everything else collapses to single spaces.
        lines = [_clean(part) for part in text.split("\n")]
        block = "\n".join(line for line in lines if line)
        if block:
            self.blocks.append(block)

    def add_block(self, block: str) -> None:
        self.flush()
        if block.strip():
            self.blocks.append(block)

    def walk(self, node: LexborNode) -> None:
        child = node.child
        while child is not None:
            self.visit(child)
            child = child.next

    def visit(self, node: LexborNode) -> None:
        tag = node.tag or ""
        if tag == "-text":
            self.inline.append(node.text_content or "")
        elif tag == "br":
            self.inline.append("\n")
        elif tag.startswith("-"):  # comments, doctype
            return
        elif tag in _HEADINGS:
            self.add_block(_flatten(node))
        elif tag in ("ul", "ol"):
            self.add_block("\n".join(_list_lines(node, 0)))
        elif tag == "table":
            self.add_block("\n".join(_table_rows(node)))
        elif tag == "pre":
            self.add_block((node.text() or "").strip("\n"))
        elif tag in _BLOCK_TAGS or tag == "li":
            self.flush()
            self.walk(node)
            self.flush()
        elif tag == "img":
            return
        else:
            self.walk(node)


def _flatten(node: LexborNode) -> str:
    """A node's text on one line, whatever blocks it holds."""
    blocks = _Blocks()
    blocks.walk(node)
    return " ".join(_clean(block) for block in blocks.finish())


def _list_lines(node: LexborNode, depth: int) -> list[str]:
    lines: list[str] = []
    number = 0
    item = node.child
    while item is not None:
        if item.tag == "li":
            number += 1
            nested: list[LexborNode] = []
            blocks = _Blocks()
            child = item.child
            while child is not None:
                if child.tag in ("ul", "ol"):
                    nested.append(child)
                else:
                    blocks.visit(child)
                child = child.next
            text = " ".join(_clean(block) for block in blocks.finish())
            marker = f"{number}." if node.tag == "ol" else "-"
            if text:
                lines.append(f"{'  ' * depth}{marker} {text}")
            for sub in nested:
                lines.extend(_list_lines(sub, depth + 1))
        elif item.tag in ("ul", "ol"):
            lines.extend(_list_lines(item, depth + 1))
        item = item.next
    return lines


def _table_rows(table: LexborNode) -> list[str]:
    rows: list[str] = []
    caption = table.css_first("caption")
    if caption is not None:
        rows.append(_flatten(caption))
    for row in table.css("tr"):
        cells = [_flatten(cell) for cell in row.iter() if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


_CONVERTERS: dict[str, Callable[[str], str]] = {"txt": _plain, "md": _markdown, "html": _html}
