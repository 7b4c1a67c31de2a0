"""One log line format for every process of the service (API workers, gunicorn, watcher)."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

JSON_FORMAT = "%(levelname)s %(name)s %(process)d %(message)s"
TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for BRIEFING_LOG_FORMAT: `json` (one object a line) or `text`."""
    if fmt.lower() == "json":
        return JsonFormatter(
            JSON_FORMAT, rename_fields={"levelname": "level", "name": "logger"}, timestamp=True
        )
    return logging.Formatter(TEXT_FORMAT)
