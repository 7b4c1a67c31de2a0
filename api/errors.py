"""One error body for every failure: {"code", "status", "message", "errors"}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from search.errors import (
    DocumentNotFound,
    IndexNotFound,
    InvalidRequest,
    PassageNotFound,
    SearchError,
)
from search.settings import SettingError

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

    def handle_http_exception(self, error: HTTPException) -> Any:
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
        headers = dict(data.get("headers") or {})
        # The exception's own headers (Allow on a 405, WWW-Authenticate, Retry-After) stay;
        # its Content-Type does not: the body is JSON.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                headers.setdefault(name, value)
        code = error.code or 500
        return error_body(code, error.name, message, errors), code, headers


# The one place where the read side's exceptions become HTTP statuses (most specific first).
# Everything else that is no HTTPException is a 500 without a stack trace.
ERROR_STATUS: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (DocumentNotFound, HTTPStatus.NOT_FOUND),
    (PassageNotFound, HTTPStatus.NOT_FOUND),
    (InvalidRequest, HTTPStatus.UNPROCESSABLE_ENTITY),
    # No index yet (first start, wrong directory): the service is not ready, like /readyz says.
    (IndexNotFound, HTTPStatus.SERVICE_UNAVAILABLE),
    (SearchError, HTTPStatus.SERVICE_UNAVAILABLE),
    (SettingError, HTTPStatus.INTERNAL_SERVER_ERROR),
)


def status_for(exc: Exception) -> HTTPStatus | None:
    """The HTTP status an engine exception maps to, or None for an unexpected one."""
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            return status
    return None


def register_error_handlers(app: Flask, api: BriefingApi) -> None:
    """Every failure in the one error shape: mapped engine errors, HTTP errors, else a 500."""

    @app.errorhandler(Exception)
    def any_error(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        status = status_for(exc)
        if status is None or status >= 500 and status != HTTPStatus.SERVICE_UNAVAILABLE:
            log.exception("unhandled error")
            err = InternalServerError()
            return error_body(500, err.name, "internal error; see the server log"), 500
        message = str(exc)
        fields: dict[str, Any] = {}
        if isinstance(exc, InvalidRequest):
            message, fields = exc.message, {exc.field: [exc.message]}
        return error_body(int(status), status.phrase, message, fields), int(status)
