"""Write endpoints: upload, replace and delete documents, force a full sync.

The documents folder stays the single source of truth: an upload is a file written into it, and
the one index writer (the folder watcher) indexes it like any other drop. A request writes the
file atomically (hidden temp file, then rename), then waits up to `WRITE_TIMEOUT` seconds for its
worker's searcher to show the new content, and answers `201`/`200` with status "indexed", or
`202` with status "pending" when the watcher has not caught up in time.

With `BRIEFING_WATCH=false` (no watcher running, e.g. `briefing serve --no-watch`) the request
indexes its one path itself through `IndexSyncer.sync_paths`; the Whoosh write lock (waited out)
keeps that safe next to any other writer.

- `POST /api/documents` creates (409 if the doc_id exists: use PUT to replace).
- `PUT /api/documents/<doc_id>` creates or replaces (201 created, 200 replaced).
- `DELETE /api/documents/<doc_id>` removes the file and waits until its passages are gone.
- `POST /api/reindex` runs a full sync and returns its report.

The body is either `multipart/form-data` with a `file` part (and optionally a `filename` field
overriding the part's filename) or JSON `{"filename", "text"}`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from api import get_engine
from api.auth import require_write_key
from api.errors import ErrorSchema
from search.errors import SearchError

if TYPE_CHECKING:
    from index.readers import ReadOptions
    from index.sync import IndexSyncer

log = logging.getLogger("api.writes")

blp = Blueprint(
    "writes",
    __name__,
    url_prefix="",
    description="Add, replace and remove documents (needs a write API key)",
)

POLL_SECONDS = 0.05
_DRIVE = re.compile(r"^[A-Za-z]:")
# C0 and C1 controls and DEL: invisible, and some terminals act on them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides and isolates (U+202A–202E, U+2066–2069), plus the marks
# (U+200E, U+200F, U+061C): "report\u202etxt.exe" displays as "reportexe.txt" in a listing.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_NAME_CHARS = 1024
MAX_PART_BYTES = 255


# -- schemas -------------------------------------------------------------------------------------


class JsonUploadSchema(ma.Schema):
    """JSON body of POST /api/documents (and PUT, where filename is optional)."""

    filename = fields.String(
        load_default=None,
        metadata={"description": "Path relative to the documents folder, e.g. `notes/x.txt`"},
    )
    text = fields.String(required=True, metadata={"description": "The document's content"})


class WriteResultSchema(ma.Schema):
    """Outcome of an upload, replacement or deletion."""

    doc_id = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(("indexed", "pending", "deleted")),
        metadata={"description": "`pending`: stored, not yet searchable within WRITE_TIMEOUT"},
    )
    passages = fields.Integer(allow_none=True, metadata={"description": "Indexed passages"})
    content_hash = fields.String(allow_none=True, metadata={"description": "SHA-256 of the file"})


class SkippedSchema(ma.Schema):
    """A file the sync could not index, and why."""

    path = fields.String()
    reason = fields.String()


class ReindexSchema(ma.Schema):
    """The summary of a full sync (the same fields as `briefing index --json`)."""

    documents = fields.Integer()
    passages = fields.Integer()
    added = fields.Integer()
    updated = fields.Integer()
    removed = fields.Integer()
    unchanged = fields.Integer()
    skipped = fields.List(fields.Nested(SkippedSchema))
    formats = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "indexed per format"},
    )
    seconds = fields.Float()


# The rule a filename follows, as the spec states it (safe_doc_id enforces it, with a 400 naming
# the problem): relative, "/" between folders, no hidden or temporary segment, no control or
# bidirectional characters, a supported suffix. ECMA-262 syntax, as OpenAPI uses.
FILENAME_PATTERN = (
    r"^(?![/~])(?!.*(?:^|/)(?:\.|~\$))(?!.*//)"
    r"[^\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
    r"\.(?:txt|md|markdown|html|htm)$"
)
_FILENAME_PROPERTY = {
    "type": "string",
    "pattern": FILENAME_PATTERN,
    "maxLength": MAX_NAME_CHARS,
    "description": "Path relative to the documents folder, e.g. `notes/x.txt`",
}


def _upload_body(name_required: bool) -> dict[str, Any]:
    """The request body of POST (a filename is required) or PUT (the path names the document)."""
    # PUT names the document by its path and ignores a filename in the body (any string).
    filename = _FILENAME_PROPERTY if name_required else {"type": "string", "description": "Ignored"}
    json_schema: dict[str, Any] = {
        "type": "object",
        "required": ["filename", "text"] if name_required else ["text"],
        "properties": {
            "filename": filename,
            "text": {"type": "string", "minLength": 1, "description": "The document's content"},
        },
        # JsonUploadSchema refuses unknown fields (422).
        "additionalProperties": False,
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "filename": {
                            **_FILENAME_PROPERTY,
                            "description": "Overrides the part's filename (may hold subfolders)",
                        },
                    },
                }
            },
            "application/json": {"schema": json_schema},
        },
    }


# Write endpoints need `Authorization: Bearer <key>` (securitySchemes.bearerAuth in the spec).
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _bad_upload_docs(func: Callable[..., Any]) -> Callable[..., Any]:
    """Document the 4xx answers shared by POST and PUT."""
    for code, text in (
        (400, "Filename with `..`, an absolute path, a backslash or a hidden/temporary name"),
        (413, "Document over its type's size limit (MAX_*_BYTES)"),
        (415, "Unsupported file type, or binary content"),
        (422, "Empty document, no body text, or a malformed body"),
    ):
        func = blp.alt_response(code, schema=ErrorSchema, description=text)(func)
    return func


def _auth_docs(func: Callable[..., Any]) -> Callable[..., Any]:
    """Document the 401/403 answers of every write endpoint."""
    func = blp.alt_response(401, schema=ErrorSchema, description="No API key")(func)
    return blp.alt_response(
        403, schema=ErrorSchema, description="Key not accepted, or writes disabled"
    )(func)


# -- helpers -------------------------------------------------------------------------------------


def _docs_dir() -> Path:
    return Path(current_app.config["DOCS_DIR"]).resolve()


def _max_bytes() -> int:
    return int(current_app.config["MAX_DOCUMENT_BYTES"])


def _read_options() -> ReadOptions:
    """Size limits per type and OCR, from the app's settings."""
    from index.readers import ReadOptions

    config = current_app.config
    return ReadOptions(
        max_bytes=int(config["MAX_DOCUMENT_BYTES"]),
        max_pdf_bytes=int(config["MAX_PDF_BYTES"]),
        max_word_bytes=int(config["MAX_WORD_BYTES"]),
        max_email_bytes=int(config["MAX_EMAIL_BYTES"]),
        ocr=bool(config["OCR"]),
    )


def _limit_for(doc_id: str) -> int:
    """The size limit for doc_id's type (PDF, Word and e-mail have their own)."""
    from index.readers import format_for

    return _read_options().limit(format_for(doc_id) or "txt")


def _reject(code: int, message: str, action: str, name: str, **errors: list[str]) -> NoReturn:
    log.warning(
        "%s %s rejected (%d): %s",
        action,
        name,
        code,
        message,
        extra={"doc_id": name, "action": action, "outcome": f"rejected {code}"},
    )
    abort(code, message=message, errors=errors or None)
    raise AssertionError("unreachable")  # abort raises; this keeps type checkers content


def safe_doc_id(name: str, action: str) -> tuple[str, Path]:
    """Validate a client-supplied name; return (doc_id, absolute path inside the docs folder)."""
    from index.sync import is_ignored

    problem = None
    # One spelling per name: "é" typed precomposed or as e + accent is the same document.
    name = unicodedata.normalize("NFC", name)
    parts = name.split("/")
    if not name:
        problem = "filename is empty"
    elif len(name) > MAX_NAME_CHARS:
        problem = f"filename is longer than {MAX_NAME_CHARS} characters"
    elif not _valid_utf8(name):
        problem = "filename is not valid UTF-8"
    elif _CONTROL.search(name):
        problem = "filename contains control characters"
    elif _BIDI.search(name):
        problem = "filename contains bidirectional text controls (U+202A–202E, U+2066–2069)"
    elif "\\" in name:
        problem = "filename contains a backslash; use '/' between folders"
    elif name.startswith("/") or _DRIVE.match(name):
        problem = "filename must be relative to the documents folder, not absolute"
    elif any(p in ("", ".", "..") for p in parts):
        problem = "filename may not contain '..', '.' or empty path segments"
    elif any(len(p.encode("utf-8")) > MAX_PART_BYTES for p in parts):
        problem = f"a path segment is longer than {MAX_PART_BYTES} bytes"
    elif is_ignored(Path(name)):
        problem = "hidden and temporary names (.*, *.tmp, *.part, ~$*) are never indexed"
    if problem is None:
        docs = _docs_dir()
        target = (docs / name).resolve()
        # A symlinked subfolder must not lead outside the documents folder.
        if not target.is_relative_to(docs) or target == docs:
            problem = "filename resolves outside the documents folder"
        elif target.is_dir():
            problem = "a folder of that name exists"
        elif (holder := _file_above(docs, docs / name)) is not None:
            # `<mail>.eml/<name>` is an attachment: it lives and goes with its e-mail.
            problem = (
                f"'{holder}' is an e-mail and this is its attachment: change or delete the e-mail"
                if holder.endswith(".eml")
                else f"'{holder}' is a file, not a folder"
            )
        else:
            return target.relative_to(docs).as_posix(), docs / name
    _reject(400, problem, action, _printable(name), filename=[problem])


def _valid_utf8(text: str) -> bool:
    """False for lone surrogates (a JSON "\\ud800") and for U+FFFD, which Werkzeug puts where
    a URL path or a multipart filename held bytes that were not UTF-8."""
    if "\ufffd" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MULTIPART_FILENAME = re.compile(rb'filename="([^"\r\n]*)"')


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _printable(name: str) -> str:
    """A refused name as it may be logged: escapes instead of controls and surrogates."""
    return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def _file_above(docs: Path, target: Path) -> str | None:
    """The doc_id of a file standing where target needs a folder (an e-mail, for attachments)."""
    for parent in target.parents:
        if parent == docs or not parent.is_relative_to(docs):
            return None
        if parent.is_file():
            return parent.relative_to(docs).as_posix()
    return None


def _check_type(doc_id: str, action: str) -> None:
    from index.readers import SUPPORTED_SUFFIXES

    suffix = Path(doc_id).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        what = f"file type '{suffix}'" if suffix else "a file without an extension"
        _reject(415, f"unsupported {what}; supported: {allowed}", action, doc_id)


def _read_body(action: str, name_required: bool) -> tuple[str | None, bytes]:
    """(client filename or None, content bytes) from a multipart or JSON body."""
    options = _read_options()
    # Enough for the largest type; _check_content applies the type's own limit.
    limit = max(
        options.max_bytes, options.max_pdf_bytes, options.max_word_bytes, options.max_email_bytes
    )
    if request.mimetype == "multipart/form-data":
        # Cached first: Werkzeug silently drops a part whose filename is not UTF-8, and only the
        # raw body can tell that apart from a missing part (400 versus 422).
        raw = request.get_data(cache=True)
        upload = request.files.get("file")
        if upload is None:
            if any(_not_utf8(n) for n in _MULTIPART_FILENAME.findall(raw)):
                problem = "filename is not valid UTF-8"
                _reject(400, problem, action, "-", filename=[problem])
            _reject(422, "multipart body needs a 'file' part", action, "-", file=["missing"])
        name = request.form.get("filename") or upload.filename or None
        data = upload.stream.read(limit + 1)
    elif request.is_json:
        try:
            payload = request.get_json(silent=True)
        except RecursionError:
            # Python's JSON decoder recurses per nesting level; a body nested deeper than the
            # interpreter's stack allows is refused like any other malformed body.
            _reject(422, "JSON body is nested too deeply", action, "-", _body=["too deep"])
        if not isinstance(payload, dict):
            _reject(422, "body is not a JSON object", action, "-")
        try:
            loaded = JsonUploadSchema().load(payload)
        except ma.ValidationError as exc:
            errors = exc.messages if isinstance(exc.messages, dict) else {"_body": exc.messages}
            _reject(422, f"invalid value for {', '.join(sorted(errors))}", action, "-", **errors)
        name, text = loaded["filename"], loaded["text"]
        if not _valid_utf8(text):
            message = "text holds a lone surrogate (e.g. \\ud800): not valid Unicode"
            _reject(422, message, action, "-", text=[message])
        data = text.encode("utf-8")
        if name and _is_binary_type(name):
            message = "JSON uploads are text; send PDF, Word and e-mail files as multipart"
            _reject(415, message, action, name)
    else:
        _reject(
            415,
            "send multipart/form-data with a 'file' part, or application/json "
            '{"filename", "text"}',
            action,
            "-",
        )
    if name_required and not name:
        _reject(400, "a filename is required", action, "-", filename=["missing"])
    return name, data


def _is_binary_type(name: str) -> bool:
    from index.readers import TEXT_FORMATS, format_for

    fmt = format_for(name)
    return fmt is not None and fmt not in TEXT_FORMATS


def _check_content(doc_id: str, data: bytes, action: str) -> None:
    limit = _limit_for(doc_id)
    if len(data) > limit:
        _reject(413, f"document is over the {limit:,}-byte limit", action, doc_id)
    if not data.strip():
        _reject(422, "document is empty", action, doc_id, file=["empty"])


def _store(doc_id: str, target: Path, data: bytes, action: str, exclusive: bool) -> None:
    """Check a hidden temp copy as the indexer will read it, then move it into place atomically."""
    from index.errors import (
        DocumentSkipped,
        DocumentTooLarge,
        UndecodableDocument,
        UnsupportedFormat,
    )
    from index.pipeline import check_file

    docs = _docs_dir()
    # Hidden name (ignored by the watcher), the real suffix (the reader picks a format by it),
    # in the documents folder itself so the final rename stays on one filesystem.
    tmp = docs / f".upload-{secrets.token_hex(8)}{target.suffix.lower()}"
    try:
        tmp.write_bytes(data)
        try:
            has_body = check_file(tmp, options=_read_options())
        except DocumentTooLarge as exc:
            _reject(413, exc.reason, action, doc_id)
        except (UnsupportedFormat, UndecodableDocument) as exc:
            _reject(415, exc.reason, action, doc_id)
        except DocumentSkipped as exc:
            _reject(422, exc.reason, action, doc_id, file=[exc.reason])
        if not has_body:
            message = "document has no body text once title and boilerplate are removed"
            _reject(422, message, action, doc_id, file=[message])
        target.parent.mkdir(parents=True, exist_ok=True)
        if exclusive:
            try:
                # link() fails if the name exists: no race between the check and the create.
                os.link(tmp, target)
            except FileExistsError:
                _reject(409, "a document with this doc_id exists; PUT replaces it", action, doc_id)
            except OSError:
                # Filesystems without hard links: the 409 check above is the best we can do.
                if target.exists():
                    _reject(409, "a document with this doc_id exists", action, doc_id)
                os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _indexed(doc_id: str) -> tuple[str | None, int]:
    """(content hash, passage count) of doc_id in this worker's current view, or (None, 0)."""
    try:
        return get_engine().content_hash(doc_id)
    except SearchError:
        return None, 0


def _syncer(workers: int | None = None) -> IndexSyncer:
    """A syncer for the app's folder and index, with the app's size limit and semantic setting."""
    from index.sync import IndexSyncer  # the write side loads only when a write comes

    return IndexSyncer(
        _docs_dir(),
        current_app.config["INDEX_DIR"],
        max_bytes=_max_bytes(),
        workers=workers,
        semantic=bool(current_app.config["SEMANTIC"]),
    )


def _self_sync(target: Path) -> None:
    """Index one path from this request when no watcher owns writes (BRIEFING_WATCH=false)."""
    _syncer(workers=1).sync_paths([target])


def _wait_for(done: Callable[[], bool], target: Path) -> bool:
    """Poll until done() (the searcher reopens when the index changed) or WRITE_TIMEOUT passes."""
    if not current_app.config.get("WATCH", True):
        from index.sync import IndexBusy

        try:
            _self_sync(target)
        except IndexBusy as exc:
            # The file is stored; whoever holds the lock (or the next sync) will index it.
            log.warning("index busy, %s left pending: %s", target.name, exc)
    deadline = time.monotonic() + float(current_app.config["WRITE_TIMEOUT"])
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _upload(doc_id: str, target: Path, data: bytes, action: str, created: bool) -> Any:
    digest = hashlib.sha256(data).hexdigest()
    started = time.perf_counter()
    _store(doc_id, target, data, action, exclusive=action == "create")
    passages = 0

    def searchable() -> bool:
        nonlocal passages
        found, passages = _indexed(doc_id)
        return found == digest

    indexed = _wait_for(searchable, target)
    status = "indexed" if indexed else "pending"
    code = (HTTPStatus.CREATED if created else HTTPStatus.OK) if indexed else HTTPStatus.ACCEPTED
    log.info(
        "%s %s: %s in %.3fs",
        action,
        doc_id,
        status,
        time.perf_counter() - started,
        extra={"doc_id": doc_id, "action": action, "outcome": status, "passages": passages},
    )
    body = {
        "doc_id": doc_id,
        "status": status,
        "passages": passages if indexed else None,
        "content_hash": digest,
    }
    return body, int(code)


# -- endpoints -----------------------------------------------------------------------------------


@blp.route("/api/documents")
class DocumentUpload(MethodView):
    """Add a document."""

    @blp.doc(requestBody=_upload_body(name_required=True), security=WRITE_SECURITY)
    @blp.response(201, WriteResultSchema, description="Stored and searchable")
    @blp.alt_response(202, schema=WriteResultSchema, description="Stored, not yet searchable")
    @blp.alt_response(409, schema=ErrorSchema, description="doc_id exists (use PUT)")
    @_bad_upload_docs
    @_auth_docs
    def post(self) -> Any:
        """Store a new document in the documents folder; answer once it is searchable."""
        require_write_key()
        name, data = _read_body("create", name_required=True)
        assert name is not None
        doc_id, target = safe_doc_id(name, "create")
        _check_type(doc_id, "create")
        _check_content(doc_id, data, "create")
        return _upload(doc_id, target, data, "create", created=True)


@blp.route("/api/documents/<path:doc_id>")
class DocumentWrite(MethodView):
    """Replace or remove a document."""

    @blp.doc(requestBody=_upload_body(name_required=False), security=WRITE_SECURITY)
    @blp.response(200, WriteResultSchema, description="Replaced and searchable")
    @blp.alt_response(201, schema=WriteResultSchema, description="Created and searchable")
    @blp.alt_response(202, schema=WriteResultSchema, description="Stored, not yet searchable")
    @_bad_upload_docs
    @_auth_docs
    def put(self, doc_id: str) -> Any:
        """Create or replace the document at doc_id (a filename in the body is ignored)."""
        require_write_key()
        doc_id, target = safe_doc_id(doc_id, "replace")
        _check_type(doc_id, "replace")
        _, data = _read_body("replace", name_required=False)
        _check_content(doc_id, data, "replace")
        created = not target.exists()
        return _upload(doc_id, target, data, "replace", created=created)

    @blp.doc(security=WRITE_SECURITY)
    @blp.response(200, WriteResultSchema, description="Removed from the folder and the index")
    @blp.alt_response(202, schema=WriteResultSchema, description="Removed, index not caught up")
    @blp.alt_response(400, schema=ErrorSchema, description="Invalid doc_id")
    @blp.alt_response(404, schema=ErrorSchema, description="No such document")
    @_auth_docs
    def delete(self, doc_id: str) -> Any:
        """Remove the document's file and wait until its passages leave the index."""
        require_write_key()
        doc_id, target = safe_doc_id(doc_id, "delete")
        existed = target.is_file()
        if not existed and _indexed(doc_id)[0] is None:
            _reject(404, f"no document '{doc_id}'", "delete", doc_id)
        if existed:
            target.unlink(missing_ok=True)
        gone = _wait_for(lambda: _indexed(doc_id)[0] is None, target)
        status = "deleted" if gone else "pending"
        log.info(
            "delete %s: %s",
            doc_id,
            status,
            extra={"doc_id": doc_id, "action": "delete", "outcome": status},
        )
        body = {"doc_id": doc_id, "status": status, "passages": 0 if gone else None}
        return body, 200 if gone else 202


@blp.route("/api/reindex")
class Reindex(MethodView):
    """Full sync."""

    @blp.doc(security=WRITE_SECURITY)
    @blp.response(200, ReindexSchema, description="What the sync did")
    @blp.alt_response(503, schema=ErrorSchema, description="Index locked by another writer")
    @_auth_docs
    def post(self) -> dict[str, Any]:
        """Sync the whole documents folder now (waits for the watcher's batch) and report."""
        from index.sync import IndexBusy

        require_write_key()
        try:
            report = _syncer().sync_all()
        except IndexBusy as exc:
            log.warning("reindex: %s", exc, extra={"action": "reindex", "outcome": "busy"})
            abort(503, message=str(exc))
        data = report.to_json()
        log.info(
            "reindex: %d added, %d updated, %d removed",
            report.added,
            report.updated,
            report.removed,
            extra={"action": "reindex", "outcome": "done", "doc_ids": report.changed_doc_ids},
        )
        return data
