"""API keys: `Authorization: Bearer <key>` for write endpoints, and for reads when configured.

- Write keys come from `BRIEFING_API_KEYS` (comma-separated) plus `BRIEFING_API_KEY_FILE` (one
  per line, `#` comments). With none configured, writes are refused (403) unless
  `ALLOW_ANONYMOUS_WRITES` is on.
- Read keys (`BRIEFING_READ_API_KEYS`) are optional; when set, every GET of the `api` blueprint
  needs a read key or a write key. `/healthz` and `/readyz` stay open for probes.
- No key: 401 with `WWW-Authenticate: Bearer`; a key that is not accepted: 403.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from flask_smorest import abort

OPEN_ENDPOINTS = {"api.Health", "api.Ready"}
# Blueprints whose GETs are reads under READ_API_KEYS (saved searches are reads like searches).
READ_BLUEPRINTS = {"api", "alerts"}


def _split(raw: Any) -> list[str]:
    return [k.strip() for k in str(raw or "").split(",") if k.strip()]


def write_keys(config: dict[str, Any]) -> list[str]:
    """Every key that may call write endpoints, from the settings and the key file."""
    keys = _split(config.get("API_KEYS"))
    key_file = str(config.get("API_KEY_FILE") or "")
    if key_file:
        for line in Path(key_file).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    return keys


def read_keys(config: dict[str, Any]) -> list[str]:
    """Keys that may call read endpoints; empty means reads are open."""
    return _split(config.get("READ_API_KEYS"))


def load_keys(app: Flask) -> None:
    """Read the key settings once at start-up (a missing key file fails loudly, not per request)."""
    app.extensions["briefing_write_keys"] = write_keys(app.config)
    app.extensions["briefing_read_keys"] = read_keys(app.config)


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(presented: str, keys: list[str]) -> bool:
    """True when presented equals one of keys, compared in constant time over every key."""
    found = False
    given = presented.encode("utf-8")
    for key in keys:
        # No early exit: the time taken does not reveal which key (or how much of one) matched.
        found |= hmac.compare_digest(given, key.encode("utf-8"))
    return found


def _deny_missing() -> None:
    abort(
        401,
        message="an API key is required: send 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": 'Bearer realm="briefing"'},
    )


def require_write_key() -> None:
    """Abort with 401/403 unless the request may write."""
    keys: list[str] = current_app.extensions.get("briefing_write_keys") or []
    if not keys:
        if current_app.config.get("ALLOW_ANONYMOUS_WRITES"):
            return
        abort(
            403,
            message=(
                "write endpoints are disabled: no API key is configured "
                "(set BRIEFING_API_KEYS or start with --allow-anonymous-writes)"
            ),
        )
    presented = _presented_key()
    if presented is None:
        _deny_missing()
    elif not key_matches(presented, keys):
        abort(403, message="this API key may not write")


def require_read_key() -> None:
    """Abort with 401/403 when read keys are configured and the request has none that fits."""
    keys: list[str] = current_app.extensions.get("briefing_read_keys") or []
    if not keys or request.method == "OPTIONS":
        return
    if request.endpoint in OPEN_ENDPOINTS:
        return
    presented = _presented_key()
    if presented is None:
        _deny_missing()
    else:
        write: list[str] = current_app.extensions.get("briefing_write_keys") or []
        if not key_matches(presented, keys + write):
            abort(403, message="this API key may not read")


def install_auth(app: Flask) -> None:
    """Load the keys and guard the `api` blueprint's reads when read keys are configured."""
    load_keys(app)

    @app.before_request
    def _guard_reads() -> None:
        # Writes check their own (stricter) key inside the view.
        if request.blueprint in READ_BLUEPRINTS and request.method in ("GET", "HEAD"):
            require_read_key()
