"""Seeing what the service does: JSON logs with a request id per request, and Prometheus metrics.

`init_observability(app)` installs it all: request hooks (id, metrics, one log line), the
`GET /metrics` endpoint and the log format. Under gunicorn the metrics are in prometheus_client's
multiprocess mode (deploy/gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR), so any worker's scrape
adds up every worker's counts.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from index.logformat import make_formatter
from index.status import parse_time, pid_alive, read_watcher_status, watcher_problem
from search.results import IndexStats

log = logging.getLogger("briefing.request")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only if it cannot smuggle anything into a log line or a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Keep these in step with deploy/gunicorn.conf.py, which formats the master's lines.
# Probes and scrapes arrive every few seconds: logged at DEBUG so they do not bury real traffic.
QUIET_ENDPOINTS = frozenset({"api.Health", "api.Ready", "metrics"})
SEARCH_ENDPOINTS = frozenset({"api.Search"})
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR (gunicorn).

    prometheus_client decides this when it is first imported, from the environment then;
    deploy/gunicorn.conf.py sets the directory before any worker imports the app.
    """
    return values.ValueClass is not values.MutexValue


class RequestMetrics:
    """The app's own request metrics, in a registry that belongs to the app."""

    def __init__(self) -> None:
        # `*_created` series double the output for nothing a dashboard of this service uses.
        disable_created_metrics()
        # In multiprocess mode the values live in the shared directory and a scrape reads them
        # from there (every worker's); otherwise this registry is what a scrape shows.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "briefing_http_requests",
            "HTTP requests answered, by endpoint (URL rule), method and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "briefing_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint (URL rule) and status.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_latency = Histogram(
            "briefing_search_duration_seconds",
            "Time to answer a passage search (/api/search), by outcome (ok or error).",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


def app_metrics(app: Flask | None = None) -> RequestMetrics:
    """The request metrics of the app (the current one by default)."""
    metrics: RequestMetrics = (app or current_app).extensions["briefing_metrics"]
    return metrics


# -- request ids and logs ----------------------------------------------------------------------


def accept_request_id(value: str | None) -> str:
    """The client's X-Request-ID if it is a sane token, else a new random one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Stamps every record logged while a request is handled with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add request_id when there is one; never drops a record."""
        if not hasattr(record, "request_id"):
            request_id = current_request_id()
            if request_id is not None:
                record.request_id = request_id
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Log to stderr in the chosen format unless a host (gunicorn) configured logging already."""
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(make_formatter(fmt))
        root.addHandler(stream)
    root.setLevel(level.upper())
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


# -- metrics -----------------------------------------------------------------------------------


class IndexCollector:
    """Index and watcher gauges, computed when scraped (never stale, nothing to keep in step)."""

    def __init__(
        self, stats: Callable[[], IndexStats], index_dir: str, expect_watcher: bool = False
    ) -> None:
        self.stats = stats
        self.index_dir = index_dir
        # True where a watcher should serve this index: a missing or dead one is then a failure.
        self.expect_watcher = expect_watcher

    def collect(self) -> Iterator[Metric]:
        """Documents, passages and generation of the index; the watcher's last sync and queue."""
        try:
            stats = self.stats()
        except Exception:  # a missing or broken index is what briefing_index_up reports
            logging.getLogger(__name__).debug("index stats unavailable", exc_info=True)
            stats = None
        yield _gauge(
            "briefing_index_up", "1 when the index opens in this worker.", stats is not None
        )
        if stats is not None:
            yield _gauge("briefing_index_documents", "Documents in the index.", stats.documents)
            yield _gauge("briefing_index_passages", "Passages in the index.", stats.passages)
            yield _gauge(
                "briefing_index_generation", "Whoosh generation of the index.", stats.generation
            )
        yield from self._watcher(read_watcher_status(self.index_dir))

    def _watcher(self, status: dict[str, Any]) -> Iterator[Metric]:
        last_sync = parse_time(status.get("last_sync"))
        if last_sync is not None:
            yield _gauge(
                "briefing_last_sync_timestamp_seconds",
                "Unix time the watcher last finished a sync.",
                last_sync,
            )
        if self.expect_watcher or status.get("outcome") in ("ok", "error"):
            # A dead or missing watcher syncs nothing: its last "ok" is no longer the truth.
            healthy = status.get("outcome") == "ok" and watcher_problem(status) is None
            yield _gauge(
                "briefing_last_sync_success",
                "1 when the watcher's last sync succeeded and it still runs, 0 otherwise.",
                healthy,
            )
        if isinstance(status.get("queue"), int):
            yield _gauge(
                "briefing_watcher_queue_length",
                "Changed files waiting for the watcher's next batch.",
                status["queue"],
            )
        updated = parse_time(status.get("updated"))
        if updated is not None:
            yield _gauge(
                "briefing_watcher_status_timestamp_seconds",
                "Unix time the watcher last wrote its status.",
                updated,
            )
        # Whether the watcher lives can only be checked on its own host.
        if status.get("host") == socket.gethostname() and isinstance(status.get("pid"), int):
            yield _gauge(
                "briefing_watcher_up", "1 while the watcher process runs.", pid_alive(status["pid"])
            )
        elif self.expect_watcher and not status:
            yield _gauge("briefing_watcher_up", "1 while the watcher process runs.", False)


def _gauge(name: str, documentation: str, value: float | bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class _Forward:
    """Exposes another registry's metrics inside a per-scrape registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        """The wrapped registry's metrics."""
        yield from self.registry.collect()


def metrics_registry(
    stats: Callable[[], IndexStats],
    index_dir: str,
    local: CollectorRegistry,
    expect_watcher: bool = False,
) -> CollectorRegistry:
    """A registry for one scrape: every worker's request metrics plus the index gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(local))
    registry.register(IndexCollector(stats, index_dir, expect_watcher))
    return registry


def metrics_view() -> Response:
    """GET /metrics: Prometheus text format; open to scrapers, no read key needed."""
    from api import get_engine
    from api.views import expects_watcher

    registry = metrics_registry(
        lambda: get_engine().stats(),
        current_app.config["INDEX_DIR"],
        app_metrics().registry,
        expects_watcher(),
    )
    # Text format 0.0.4 by default (every Prometheus reads it); OpenMetrics when asked for.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


# -- request hooks -----------------------------------------------------------------------------


def _before_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))


def _after_request(response: Response) -> Response:
    # A hook registered before this one may have answered first: then the id is made here.
    request_id = g.get("request_id") or accept_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.request_id = request_id
    response.headers[REQUEST_ID_HEADER] = request_id
    duration = time.perf_counter() - g.get("request_started", time.perf_counter())
    # The URL rule, not the path: /api/documents/<path:doc_id> is one series, not one per document.
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    status = str(response.status_code)
    metrics = app_metrics()
    metrics.requests.labels(endpoint, request.method, status).inc()
    metrics.latency.labels(endpoint, status).observe(duration)
    if request.endpoint in SEARCH_ENDPOINTS:
        metrics.search_latency.labels("ok" if response.status_code < 400 else "error").observe(
            duration
        )
    level = (
        logging.DEBUG if request.endpoint in QUIET_ENDPOINTS and status < "400" else logging.INFO
    )
    log.log(
        level,
        "%s %s %s %.1fms",
        request.method,
        request.path,
        status,
        duration * 1000,
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 1),
            "bytes": response.calculate_content_length(),
            "remote_addr": request.remote_addr,
            "user_agent": request.user_agent.string or None,
        },
    )
    return response


def init_observability(app: Flask) -> None:
    """Install request ids, request metrics, the per-request log line and GET /metrics."""
    configure_logging(str(app.config["LOG_LEVEL"]), str(app.config["LOG_FORMAT"]))
    app.extensions["briefing_metrics"] = RequestMetrics()
    # Registered first among app hooks: the id exists before any other hook (auth) may log.
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])
