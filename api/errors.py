"""One error body for every failure: {"code", "status", "message", "errors"}."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from search.errors import DocumentNotFound, InvalidRequest, PassageNotFound

log = logging.getLogger(__name__)


class ErrorSchema(ma.Schema):
    """The body of every error response."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP reason phrase"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong"})
    errors = ma.fields.Dict(
        required=True,
        metadata={"description": "Field name → list of messages; empty when no field is at fault"},
    )


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"query": {"per_page": [...]}}); clients want fields."""
    if not isinstance(messages, dict):
        return {"_request": messages}
    flat: dict[str, Any] = {}
    for key, value in messages.items():
        if key in ("query", "json", "form", "files", "view_args", "headers") and isinstance(
            value, dict
        ):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def error_body(code: int, status: str, message: str, errors: dict[str, Any] | None = None):
    """The common error payload."""
    return {"code": code, "status": status, "message": message, "errors": errors or {}}


class BriefingApi(Api):
    """flask-smorest's Api with our single error shape for every HTTP error."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        """Render any HTTPException in the common error shape."""
        data = getattr(error, "data", None) or {}
        errors = _flatten(data.get("errors") or data.get("messages") or {})
        message = data.get("message")
        if not message:
            if errors:
                fields = ", ".join(sorted(errors))
                message = f"invalid value for {fields}"
            else:
                message = error.description or error.name
        headers = data.get("headers") or {}
        code = error.code or 500
        return error_body(code, error.name, message, errors), code, headers


def register_error_handlers(app: Flask, api: BriefingApi) -> None:
    """Map engine errors to 4xx and anything unexpected to a 500 without a stack trace."""

    @app.errorhandler(DocumentNotFound)
    @app.errorhandler(PassageNotFound)
    def not_found(exc: Exception):  # type: ignore[no-untyped-def]
        return error_body(404, "Not Found", str(exc)), 404

    @app.errorhandler(InvalidRequest)
    def invalid(exc: InvalidRequest):  # type: ignore[no-untyped-def]
        return (
            error_body(422, "Unprocessable Entity", exc.message, {exc.field: [exc.message]}),
            422,
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        log.exception("unhandled error")
        err = InternalServerError()
        return error_body(500, err.name, "internal error; see the server log"), 500
