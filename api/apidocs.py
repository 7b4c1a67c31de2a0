"""The `apidocs` blueprint: a readable API reference rendered from the OpenAPI spec, no CDN."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

bp = Blueprint("apidocs", __name__, template_folder="templates")

# The reference page runs no script at all and loads only its own stylesheet; nobody may frame it.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


@bp.after_request
def docs_security_headers(response: Response) -> Response:
    """The reference page's Content-Security-Policy (no framing, no script)."""
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow a local $ref to its schema."""
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = spec["components"]["schemas"].get(name, {})
    return node


@bp.get("/api/docs")
def api_docs() -> str:
    """Every endpoint with its parameters, responses and schemas, from the live spec."""
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    spec = api.spec.to_dict()
    endpoints = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            if method == "parameters":
                continue
            endpoints.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [_resolve(spec, p) for p in op.get("parameters", [])],
                    "responses": {
                        code: (r.get("description", ""), _schema_name(r))
                        for code, r in op.get("responses", {}).items()
                    },
                }
            )
    schemas = spec.get("components", {}).get("schemas", {})
    return render_template("apidocs.html", spec=spec, endpoints=endpoints, schemas=schemas)


def _schema_name(response: dict[str, Any]) -> str:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else ""
