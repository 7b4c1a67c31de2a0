"""Request ids, structured logs and Prometheus metrics: in the app, and under real gunicorn."""

from __future__ import annotations

import glob
import json
import logging
import os
import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from api.observability import accept_request_id, make_formatter
from index.status import parse_time, read_watcher_status, status_path, write_watcher_status
from index.sync import IndexSyncer
from tests.serving import Server, copy_seeds


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text → {(sample name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(parsed: dict, name: str, **labels: str) -> float:
    """Sum of the samples of name whose labels include labels."""
    return sum(
        value
        for (sample, sample_labels), value in parsed.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("obs")
    docs = copy_seeds(root / "docs")
    IndexSyncer(docs, root / "index").sync_all()
    return root / "index"


@pytest.fixture()
def client(index_dir: Path):
    return create_app({"INDEX_DIR": str(index_dir)}).test_client()


# -- request ids -------------------------------------------------------------------------------


def test_request_id_is_echoed_when_sane(client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"})
    assert response.headers["X-Request-ID"] == "trace-42.a_b"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "semi;colon", "ünï"])
def test_request_id_is_generated_when_missing_or_unsafe(client, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    rid = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert rid != given and len(rid) == 32 and int(rid, 16) >= 0


def test_request_id_on_errors_too(client) -> None:
    response = client.get("/api/documents/no-such-doc", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "err-1"
    assert client.get("/no/such/route").headers["X-Request-ID"]


def test_accept_request_id_bounds() -> None:
    assert accept_request_id("a" * 128) == "a" * 128
    assert accept_request_id("a" * 129) != "a" * 129


# -- logs --------------------------------------------------------------------------------------


def test_one_log_record_per_request_with_fields(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="briefing.request")
    client.get("/api/search?q=cyber", headers={"X-Request-ID": "log-1"})
    records = [r for r in caplog.records if r.name == "briefing.request"]
    assert len(records) == 1
    record = records[0]
    assert record.request_id == "log-1"  # type: ignore[attr-defined]
    assert record.method == "GET" and record.path == "/api/search"  # type: ignore[attr-defined]
    assert record.status == 200 and record.endpoint == "/api/search"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


def test_probes_log_at_debug(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="briefing.request")
    client.get("/healthz")
    client.get("/metrics")
    assert not [r for r in caplog.records if r.name == "briefing.request"]


def test_json_formatter_writes_one_object_per_line() -> None:
    record = logging.LogRecord(
        "briefing.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.request_id = "abc"
    line = make_formatter("json").format(record)
    data = json.loads(line)
    assert data["message"] == "GET /x" and data["level"] == "INFO"
    assert data["logger"] == "briefing.request" and data["request_id"] == "abc"
    assert "timestamp" in data and "\n" not in line
    assert "GET /x" in make_formatter("text").format(record)


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_count_requests_by_url_rule_not_path(client) -> None:
    before = samples(client.get("/metrics").get_data(as_text=True))
    client.get("/api/documents/a.txt")
    client.get("/api/documents/b.txt")
    client.get("/api/search?q=cyber")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = samples(response.get_data(as_text=True))
    rule = "/api/documents/<path:doc_id>"
    name = "briefing_http_requests_total"
    grown = total(after, name, endpoint=rule, status="404") - total(
        before, name, endpoint=rule, status="404"
    )
    assert grown == 2
    assert not [k for k in after if ("endpoint", "/api/documents/a.txt") in k[1]]
    searches = "briefing_search_duration_seconds_count"
    assert total(after, searches, outcome="ok") - total(before, searches, outcome="ok") == 1
    assert total(after, "briefing_http_request_duration_seconds_count", endpoint="/api/search")


def test_metrics_report_index_size(client, index_dir: Path) -> None:
    ready = client.get("/readyz").get_json()
    parsed = samples(client.get("/metrics").get_data(as_text=True))
    assert parsed[("briefing_index_up", ())] == 1
    assert parsed[("briefing_index_documents", ())] == ready["documents"] > 0
    assert parsed[("briefing_index_passages", ())] == ready["passages"] > 0


def test_metrics_report_watcher_status(tmp_path: Path, index_dir: Path) -> None:
    # A copy of the index: the status file must not leak into the shared fixture.
    app = create_app({"INDEX_DIR": str(tmp_path)})
    write_watcher_status(tmp_path, last_sync="2025-01-02T03:04:05+00:00", outcome="ok", queue=3)
    parsed = samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert parsed[("briefing_index_up", ())] == 0  # no index in tmp_path
    assert parsed[("briefing_last_sync_timestamp_seconds", ())] == parse_time(
        "2025-01-02T03:04:05+00:00"
    )
    assert parsed[("briefing_last_sync_success", ())] == 1
    assert parsed[("briefing_watcher_queue_length", ())] == 3
    assert parsed[("briefing_watcher_up", ())] == 1  # this process wrote it and is alive
    write_watcher_status(tmp_path, outcome="error", error="boom", pid=2**22 + 12345)
    parsed = samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert parsed[("briefing_last_sync_success", ())] == 0
    assert parsed[("briefing_watcher_up", ())] == 0


def test_metrics_need_no_read_key(index_dir: Path) -> None:
    client = create_app({"INDEX_DIR": str(index_dir), "READ_API_KEYS": "secret"}).test_client()
    assert client.get("/api/search?q=cyber").status_code == 401
    assert client.get("/metrics").status_code == 200


def test_watcher_status_file_merges_and_survives_garbage(tmp_path: Path) -> None:
    assert read_watcher_status(tmp_path) == {}
    write_watcher_status(tmp_path, last_sync="2025-01-01T00:00:00+00:00", outcome="ok", queue=0)
    status = write_watcher_status(tmp_path, queue=7)
    assert status["last_sync"] == "2025-01-01T00:00:00+00:00" and status["queue"] == 7
    assert status["pid"] == os.getpid() and parse_time(status["updated"])
    assert read_watcher_status(tmp_path) == status
    assert [p.name for p in tmp_path.iterdir()] == [status_path(tmp_path).name]
    status_path(tmp_path).write_text("{not json")
    assert read_watcher_status(tmp_path) == {}


# -- under gunicorn ----------------------------------------------------------------------------


def test_gunicorn_workers_share_metrics_and_log_json(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    server = Server(docs, tmp_path / "index", workers=2, env={"BRIEFING_LOG_FORMAT": "json"})
    with server:
        rid = uuid.uuid4().hex
        echoed = server.get("/api/facets", headers={"X-Request-ID": rid}).headers["X-Request-ID"]
        assert echoed == rid
        # Concurrent requests land on both workers; a scrape must add up every worker's counts.
        with ThreadPoolExecutor(4) as pool:
            codes = list(
                pool.map(lambda _: server.get("/api/search?q=cyber").status_code, range(12))
            )
        assert codes == [200] * 12
        parsed = samples(server.get("/metrics").text)
        name = "briefing_http_requests_total"
        assert total(parsed, name, endpoint="/api/search", status="200") == 12
        assert total(parsed, "briefing_search_duration_seconds_count", outcome="ok") == 12
        ready = server.get("/readyz").json()
        assert parsed[("briefing_index_documents", ())] == ready["documents"] == 5

        # Graceful reload (SIGHUP): new workers, nothing refused meanwhile, counts kept.
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert server.get("/healthz").status_code == 200
            time.sleep(0.05)
        parsed = samples(server.get("/metrics").text)
        assert total(parsed, name, endpoint="/api/search", status="200") == 12

        records = []
        for line in server.log().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        mine = [r for r in records if r.get("request_id") == rid]
        assert mine and mine[0]["path"] == "/api/facets" and mine[0]["status"] == 200
        assert any(r.get("logger") == "gunicorn.error" for r in records)
        master = server.proc.pid
    with pytest.raises(requests.RequestException):
        requests.get(server.url + "/healthz", timeout=1)
    # The master's own multiprocess directory goes with it.
    assert not glob.glob(os.path.join(tempfile.gettempdir(), f"briefing-metrics-{master}-*"))
