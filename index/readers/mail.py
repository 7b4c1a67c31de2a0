"""E-mail (.eml): headers as metadata, the body without quoted replies or signature, attachments.

Subject → title, Date → date, From → byline, the Organization header or the sender's domain →
source. The body is the plain-text part, else the HTML part's main text. Attachments are handed
back by name with their bytes' format; the caller reads those it supports as documents of their
own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from index.errors import DocumentSkipped, EmptyDocument
from index.readers.base import Attachment, Extracted, Hints, normalise
from index.readers.text import decode_bytes, html_to_text

# A message this deep in multiparts is built to hurt a parser, not to be read.
MAX_DEPTH = 10
# MIME parts walked before giving up: real mail has a handful; 10,000 is an attack.
MAX_PARTS = 500
# Attachments read as documents of their own; more than this and the e-mail is refused whole,
# so a batch never spends its time (and the index its space) on one message's payload.
MAX_ATTACHMENTS = 50
# Longest attachment name kept (bytes of UTF-8), like most filesystems' limit.
MAX_NAME_BYTES = 200

# Where the quoted conversation begins: "On <date>, <name> wrote:", Outlook's header block,
# forwarded-message markers.
_QUOTE_START = re.compile(
    r"^(?:On .{3,200}(?:wrote|escribió|a écrit):\s*$"
    r"|El .{3,200}escribió:\s*$"
    r"|-{2,}\s*(?:Original Message|Mensaje original|Forwarded message|Mensaje reenviado)\s*-{2,}"
    r"|_{20,}\s*$"
    r"|From: .+\n(?:Sent|Date|Enviado|To): )",
    re.I | re.M,
)
# The conventional signature delimiter "-- " (RFC 3676), and phone-client footers.
_SIGNATURE = re.compile(r"^(?:-- ?|Sent from my \w+.*|Enviado desde mi \w+.*)$", re.M)
_QUOTED_LINE = re.compile(r"^\s*>.*$\n?", re.M)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


def read_eml(
    data: bytes,
    attachment_format: Callable[[str], str | None],
    read_attachment: Callable[[str, bytes], Extracted] | None,
) -> Extracted:
    """The message's text with header hints, and its attachments read by read_attachment.

    `attachment_format(name)` gives the format a reader supports for a file name, or None;
    `read_attachment(format, payload)` reads one (None: attachments are left out, as for an
    e-mail attached to an e-mail). An attachment that cannot be read keeps its reason.
    """
    message = _parse(data)
    parts = _walk(message)
    body = _body(parts)
    subject = " ".join(str(message.get("Subject", "") or "").split())
    text = normalise("\n\n".join(part for part in (subject, body) if part))
    if not body.strip() and not subject:
        raise EmptyDocument("empty e-mail")
    extracted = Extracted(text=text, format="eml", hints=_hints(message, subject))
    if read_attachment is None:
        return extracted
    names: set[str] = set()
    count = 0
    for part in parts:
        if not _is_attachment(part):
            continue
        count += 1
        if count > MAX_ATTACHMENTS:
            raise DocumentSkipped(f"e-mail has over {MAX_ATTACHMENTS} attachments")
        name = _unique(safe_name(part.get_filename() or "", count, part), names)
        fmt = attachment_format(name)
        if fmt is None:
            continue  # a logo, a calendar invite: not a document, not worth a skip line
        payload = _payload(part)
        if not payload.strip():
            extracted.attachments.append(Attachment(name, reason="empty attachment"))
            continue
        try:
            extracted.attachments.append(Attachment(name, read_attachment(fmt, payload)))
        except DocumentSkipped as exc:
            extracted.attachments.append(Attachment(name, reason=exc.reason))
    return extracted


def _payload(part: EmailMessage) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) and inner else None
        return message.as_bytes() if isinstance(message, EmailMessage) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _parse(data: bytes) -> EmailMessage:
    # Every MIME part starts with a "--boundary" line: counting those lines refuses a message
    # of 10,000 parts before the parser spends seconds building them all.
    if data.count(b"\n--") > 2 * MAX_PARTS:
        raise DocumentSkipped(f"e-mail has over {MAX_PARTS} parts")
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
    except (ValueError, TypeError, IndexError, LookupError) as exc:
        raise DocumentSkipped("not a readable e-mail") from exc
    if not isinstance(message, EmailMessage) or not message.keys():
        raise DocumentSkipped("not an e-mail (no headers)")
    return message


def _walk(
    message: EmailMessage, depth: int = 0, seen: list[int] | None = None
) -> list[EmailMessage]:
    """The message's leaf parts, refusing absurd nesting or part counts."""
    counter = seen if seen is not None else [0]
    if depth > MAX_DEPTH:
        raise DocumentSkipped(f"e-mail nests parts over {MAX_DEPTH} deep")
    leaves: list[EmailMessage] = []
    # An attached e-mail is one attachment, not parts of this message.
    if message.is_multipart() and message.get_content_type() != "message/rfc822":
        payload = message.get_payload()
        for part in payload if isinstance(payload, list) else []:
            counter[0] += 1
            if counter[0] > MAX_PARTS:
                raise DocumentSkipped(f"e-mail has over {MAX_PARTS} parts")
            if isinstance(part, EmailMessage):
                leaves.extend(_walk(part, depth + 1, counter))
    else:
        leaves.append(message)
    return leaves


def _is_attachment(part: EmailMessage) -> bool:
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return True
    # An inline part with a file name that is not body text (an inline PDF) is an attachment too.
    return bool(part.get_filename()) and part.get_content_maintype() != "text"


def _body(parts: list[EmailMessage]) -> str:
    """The message's own words: plain text, else HTML's main text, minus quotes and signature."""
    plain = html = None
    for part in parts:
        if _is_attachment(part):
            continue
        if part.get_content_type() == "text/plain" and plain is None:
            plain = _part_text(part)
        elif part.get_content_type() == "text/html" and html is None:
            html = _part_text(part)
    if plain and plain.strip():
        return strip_replies(plain)
    if html:
        return strip_replies(html_to_text(html))
    return ""


def _part_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset, errors="replace").replace("\r\n", "\n")
        except LookupError:
            pass
    try:
        return decode_bytes(payload).replace("\r\n", "\n")
    except DocumentSkipped:
        return ""


def strip_replies(body: str) -> str:
    """The body without the quoted conversation below it, quoted lines, or the signature."""
    quote = _QUOTE_START.search(body)
    if quote:
        body = body[: quote.start()]
    signature = _SIGNATURE.search(body)
    if signature:
        body = body[: signature.start()]
    body = _QUOTED_LINE.sub("", body)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
    # Mail clients wrap lines at 72-78 characters; a paragraph is one line to the chunker.
    return "\n\n".join(p for p in paragraphs if p)


def _hints(message: EmailMessage, subject: str) -> Hints:
    date = None
    raw_date = message.get("Date")
    if raw_date:
        try:
            date = parsedate_to_datetime(str(raw_date)).date().isoformat()
        except (TypeError, ValueError, IndexError):
            date = None
    byline = source = None
    addresses = getaddresses([str(message.get("From", "") or "")])
    if addresses:
        name, address = addresses[0]
        byline = " ".join(name.split()) or address or None
        domain = address.rpartition("@")[2].lower().strip(">. ")
        source = domain or None
    organization = " ".join(str(message.get("Organization", "") or "").split())
    if organization:
        source = organization
    return Hints(title=subject or None, author=byline, date=date, source=source, authoritative=True)


def safe_name(raw: str, number: int, part: EmailMessage) -> str:
    """An attachment's file name as a single safe path segment ("../../x.pdf" is "x.pdf")."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", " ".join(name.split())).lstrip(".~$ ")
    for suffix in (".tmp", ".part", ".crdownload", ".swp", "~"):
        name = name.removesuffix(suffix)  # temporary-file names are ignored everywhere else
    if not name or name in {".", ".."}:
        name = f"attachment-{number}{_guess_suffix(part)}"
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem[:-1]}.{suffix}" if dot and stem else name[:-1]
    return name


def _guess_suffix(part: EmailMessage) -> str:
    return {
        "application/pdf": ".pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
        "text/plain": ".txt",
        "text/html": ".html",
        "message/rfc822": ".eml",
    }.get(part.get_content_type(), "")


def _unique(name: str, taken: set[str]) -> str:
    """name, or "stem (2).ext" when another attachment already has it."""
    candidate = name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    n = 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}).{suffix}" if suffix else f"{stem} ({n})"
    taken.add(candidate.lower())
    return candidate
