"""Every setting of the service: name, default, meaning, read from `BRIEFING_<NAME>`.

The bottom layer: standard library only, so the API, the watcher (index/) and the gunicorn config
(deploy/) read settings with one set of rules. Nothing is read at import time: call
`load_settings()` when a value is needed.

Rules: an unset or blank variable keeps the default; booleans take 1/true/yes/on and
0/false/no/off (any case); numbers must parse. A value that does not is a `SettingError` naming
the variable, never a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class SettingError(ValueError):
    """A BRIEFING_* variable holds a value its setting cannot take."""


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

    def parse(self, raw: str) -> Any:
        """The value raw stands for, of the default's type; SettingError when it cannot be."""
        text = raw.strip()
        if not text:
            return self.default
        default = self.default
        try:
            if isinstance(default, bool):
                word = text.lower()
                if word in TRUE_WORDS:
                    return True
                if word in FALSE_WORDS:
                    return False
                raise ValueError("expected one of 1/true/yes/on or 0/false/no/off")
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float):
                return float(text)
        except ValueError as exc:
            raise SettingError(f"{self.env}={raw!r}: {exc}") from exc
        return raw


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DOCS_DIR", "seeds", "Documents folder: the single source of truth, watched for drops."
    ),
    Setting("INDEX_DIR", "var/index", "Whoosh index directory (outside the source tree)."),
    Setting(
        "MAX_DOCUMENT_BYTES",
        20 * 1024 * 1024,
        "Text, Markdown and HTML files over this size are skipped.",
    ),
    Setting("MAX_PDF_BYTES", 100 * 1024 * 1024, "PDF files over this size are skipped."),
    Setting("MAX_WORD_BYTES", 50 * 1024 * 1024, "Word (.docx) files over this size are skipped."),
    Setting(
        "MAX_EMAIL_BYTES",
        50 * 1024 * 1024,
        "E-mails (.eml, attachments included) over this size are skipped.",
    ),
    Setting(
        "OCR",
        False,
        "Read PDF pages without a text layer (scans) with tesseract (eng + spa); off, such PDFs "
        "are skipped as `no text layer (scanned?)`. About 2-5 s per page.",
    ),
    Setting(
        "CORS_ORIGINS",
        "",
        "Comma-separated origins allowed to call `/api/*` from browsers; empty: CORS off. `*` "
        "allows any origin to read (GET) but never to write; listed origins may also write.",
    ),
    Setting("API_KEYS", "", "Comma-separated keys that may call write endpoints."),
    Setting("API_KEY_FILE", "", "File with one write key per line (added to API_KEYS)."),
    Setting("READ_API_KEYS", "", "If set, read endpoints need one of these keys (or a write key)."),
    Setting("ALLOW_ANONYMOUS_WRITES", False, "Allow write endpoints without a key (no keys set)."),
    Setting("WRITE_TIMEOUT", 30.0, "Seconds an upload waits until its document is searchable."),
    Setting(
        "WATCH",
        True,
        "A folder watcher owns index writes (`briefing serve` starts one; `briefing watch` runs "
        "one alone). When false, the API's write endpoints index the file themselves.",
    ),
    Setting(
        "START_WATCHER",
        True,
        "`briefing serve` starts the watcher beside gunicorn when WATCH is on; false where the "
        "watcher runs as its own service or on another host (read replicas).",
    ),
    Setting(
        "READY_NEEDS_WATCHER",
        True,
        "With WATCH on, `/readyz` answers 503 while no watcher is alive or its last sync failed. "
        "False for read-only replicas that serve an index another host writes.",
    ),
    Setting(
        "SEMANTIC",
        False,
        "Semantic rescoring: index passage embeddings (all-MiniLM-L6-v2, about 28 passages/s "
        "on 2 cores, ~240 MB per process) and re-rank the top 100 hits by BM25 + similarity. "
        "Indexer and API alike.",
    ),
    Setting(
        "INDEX_WORKERS",
        0,
        "Processes that read, tag and write index segments in parallel when a sync has 64 files "
        "or more (`briefing index`, the watcher's rescans and bursts); 0 means one per CPU core.",
    ),
    Setting(
        "EMBEDDING_PRECISION",
        "float32",
        "How semantic rescoring's encoder runs: `float32` (the model's weights) or `int8` "
        "(weights quantised as the model loads: about 24 passages per CPU second against 16, "
        "vectors within cosine ~0.99 of `float32`'s, but SciFact nDCG@10 0.733 against 0.736). "
        "Query and passage vectors mix either way; changing it re-embeds nothing.",
    ),
    Setting("RESCAN_INTERVAL", 60.0, "Seconds between the watcher's full rescans (safety net)."),
    Setting(
        "SEARCH_TIMEOUT",
        10.0,
        "Seconds one search may run; past it the search answers what it has matched with "
        "`query_info.timed_out: true` (0: no budget). Keep it well under TIMEOUT.",
    ),
    Setting(
        "EXPORT_MAX_PASSAGES",
        1_000_000,
        "Most passages one `/api/export` streams (0: no cap); past it the export stops there and "
        "says so in `X-Export-Truncated`. An export streams with flat memory, but it holds a "
        "worker while it runs (1M passages: see docs/export-benchmarks.md).",
    ),
    Setting(
        "ALERT_MAX_PER_DAY",
        100.0,
        "A saved search whose estimated matches a day (its hits over the date span of the "
        "index) exceed this is flagged `too_broad` when it is created or changed.",
    ),
    Setting(
        "WEBHOOK_TIMEOUT",
        10.0,
        "Seconds one alert webhook POST may take before it counts as failed.",
    ),
    Setting(
        "WEBHOOK_ATTEMPTS",
        8,
        "Attempts per alert webhook delivery before it is marked failed (first one included).",
    ),
    Setting(
        "WEBHOOK_BACKOFF",
        2.0,
        "Seconds before the first webhook retry; each further retry waits twice as long (at "
        "most an hour).",
    ),
    Setting("HOST", "127.0.0.1", "Address `briefing serve` binds."),
    Setting("PORT", 8000, "Port `briefing serve` binds (the container's `proxy` role: nginx's)."),
    Setting(
        "UPSTREAM",
        "127.0.0.1:8000",
        "host:port of the API that the container's `proxy` role (nginx) forwards to; compose: api:8000.",
    ),
    Setting("WORKERS", 0, "gunicorn workers; 0 means 2 × CPUs + 1, at most 8."),
    Setting("TIMEOUT", 60, "Seconds a worker may be busy on one request before it is replaced."),
    Setting(
        "GRACEFUL_TIMEOUT",
        30,
        "Seconds workers get to finish requests in flight on SIGTERM or a SIGHUP reload.",
    ),
    Setting(
        "PRELOAD",
        False,
        "Import the app in the gunicorn master before forking (less memory; SIGHUP then "
        "reloads no code).",
    ),
    Setting(
        "ACCESS_LOG",
        False,
        "Also write gunicorn's own access log (JSON, stdout); the app logs every request anyway.",
    ),
    Setting(
        "METRICS_DIR",
        "",
        "Prometheus multiprocess directory; empty means a fresh temporary one per server start.",
    ),
    Setting("LOG_LEVEL", "INFO", "Logging level."),
    Setting("LOG_FORMAT", "json", "`json` (one object per line) or `text`."),
)


SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then BRIEFING_* environment variables, then explicit overrides."""
    env = os.environ if environ is None else environ
    values = {s.name: setting_value(s.name, env) for s in SETTINGS}
    values.update(overrides or {})
    return values


def setting_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting's value: its BRIEFING_* environment variable parsed, else its default
    (what load_settings gives every setting; the readers ask for four per file)."""
    setting = SETTINGS_BY_NAME[name]
    raw = (os.environ if environ is None else environ).get(setting.env)
    return setting.default if raw is None else setting.parse(raw)


def _shown_default(default: Any) -> str:
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if default == "":
        return "(empty)"
    return f"`{default}`"


def markdown_table() -> str:
    """The README's settings table: `python -c 'from api.settings import *; print(markdown_table())'`."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for spec in SETTINGS:
        meaning = spec.help.replace("|", "\\|")
        rows.append(f"| `{spec.env}` | {_shown_default(spec.default)} | {meaning} |")
    return "\n".join(rows)
