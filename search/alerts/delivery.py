"""Webhook delivery: signed JSON POSTs from a background thread, retried with backoff.

A percolation only queues a delivery (a row in the alerts database, in its own transaction);
this thread sends it, so a slow or dead receiver never holds up indexing. Each POST carries
`X-Briefing-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed by the alert's
secret. A 2xx answer delivers; anything else (an error status, a refused connection, a
timeout) is logged as an attempt and retried after WEBHOOK_BACKOFF x 2^(attempt - 1) seconds
(at most MAX_BACKOFF), until WEBHOOK_ATTEMPTS attempts have failed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from search.alerts.db import AlertStore
from search.settings import load_settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Briefing-Signature"
# The longest wait between two attempts, however many failed: a receiver that is down for
# hours is tried again hourly, not daily.
MAX_BACKOFF = 3600.0
# How often the thread looks for due deliveries when nothing woke it.
POLL_SECONDS = 1.0
# Characters of an error kept in the delivery log.
ERROR_CHARS = 300
USER_AGENT = "briefing-search-webhook/1"


def signature(secret: str, body: bytes) -> str:
    """The X-Briefing-Signature value: `sha256=` and the hex HMAC-SHA256 of body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after the attempt-th failed attempt (1-based)."""
    return float(min(MAX_BACKOFF, base * 2 ** (attempt - 1)))


def post(url: str, body: bytes, secret: str, delivery_id: int, timeout: float) -> int:
    """POST body to url, signed; the HTTP status (an error status is returned, not raised)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(secret, body),
            "X-Briefing-Delivery": str(delivery_id),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Deliverer(threading.Thread):
    """Sends due deliveries of one alerts database until the process ends."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(name="webhook-delivery", daemon=True)
        self.path = Path(path)
        settings = load_settings()
        self.timeout = float(settings["WEBHOOK_TIMEOUT"])
        self.attempts = int(settings["WEBHOOK_ATTEMPTS"])
        self.base = float(settings["WEBHOOK_BACKOFF"])
        self._wake = threading.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        """Look for due deliveries now (a percolation just queued some)."""
        self._wake.set()

    def stop(self) -> None:
        """End the loop after the delivery in progress."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Deliver what is due, then wait for a wake-up or the next poll."""
        store = AlertStore(self.path)
        try:
            while not self._stop.is_set():
                try:
                    self.deliver_due(store)
                except Exception:  # the thread must outlive a locked or damaged database
                    log.exception("webhook delivery pass failed")
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
        finally:
            store.close()

    def deliver_due(self, store: AlertStore) -> int:
        """Attempt every due delivery once; how many were attempted."""
        rows = store.claim_due(lease=self.timeout + 5.0)
        for row in rows:
            status: int | None = None
            error: str | None = None
            try:
                status = post(
                    row["url"], row["body"].encode("utf-8"), row["secret"], row["id"], self.timeout
                )
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
            ok = status is not None and 200 <= status < 300
            attempt = int(row["attempts"]) + 1
            retry_at = None
            if not ok and attempt < self.attempts:
                retry_at = time.time() + backoff(attempt, self.base)
            if not ok:
                log.warning(
                    "webhook %s for alert %s: attempt %d failed (%s)",
                    row["id"],
                    row["alert_id"],
                    attempt,
                    error or f"HTTP {status}",
                )
            store.record_attempt(row["id"], status, error, ok, retry_at)
        return len(rows)


_lock = threading.Lock()
_deliverers: dict[Path, Deliverer] = {}


def ensure_deliverer(path: str | os.PathLike[str]) -> Deliverer:
    """This process's delivery thread for the database at path, started on first use."""
    key = Path(path).resolve()
    with _lock:
        worker = _deliverers.get(key)
        if worker is None or not worker.is_alive():
            worker = _deliverers[key] = Deliverer(key)
            worker.start()
        else:
            worker.wake()
        return worker
