"""Every setting of the service: name, default, meaning. Each is read from `BRIEFING_<NAME>`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One configuration value with its environment variable and documentation."""

    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return f"BRIEFING_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DOCS_DIR", "seeds", "Documents folder: the single source of truth, watched for drops."
    ),
    Setting("INDEX_DIR", "var/index", "Whoosh index directory (outside the source tree)."),
    Setting("MAX_DOCUMENT_BYTES", 20 * 1024 * 1024, "Files over this size are skipped."),
    Setting("CORS_ORIGINS", "*", "Comma-separated origins allowed to call the API from browsers."),
    Setting("API_KEYS", "", "Comma-separated keys that may call write endpoints."),
    Setting("API_KEY_FILE", "", "File with one write key per line (added to API_KEYS)."),
    Setting("READ_API_KEYS", "", "If set, read endpoints need one of these keys (or a write key)."),
    Setting("ALLOW_ANONYMOUS_WRITES", False, "Allow write endpoints without a key (no keys set)."),
    Setting("WRITE_TIMEOUT", 30.0, "Seconds an upload waits until its document is searchable."),
    Setting("WATCH", True, "Run the folder watcher alongside `briefing serve`."),
    Setting("HOST", "127.0.0.1", "Address `briefing serve` binds."),
    Setting("PORT", 8000, "Port `briefing serve` binds."),
    Setting("WORKERS", 0, "gunicorn workers; 0 means 2 × CPUs + 1, at most 8."),
    Setting("LOG_LEVEL", "INFO", "Logging level."),
    Setting("LOG_FORMAT", "json", "`json` (one object per line) or `text`."),
)


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then BRIEFING_* environment variables, then explicit overrides."""
    values = {s.name: s.default for s in SETTINGS}
    for setting in SETTINGS:
        raw = os.environ.get(setting.env)
        if raw is not None:
            values[setting.name] = _coerce(raw, setting.default)
    values.update(overrides or {})
    return values
