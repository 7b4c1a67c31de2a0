"""Real nginx (deploy/nginx/briefing-proxy.conf) in front of real gunicorn on loopback ports.

Before: no proxy; two clients sending a header line every 2 s held both sync workers and /healthz
timed out for 20 s; gunicorn's own refusals were HTML. Now nginx holds the slow clients, the
workers keep answering, and every refusal nginx makes is in the API's error shape.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.serving import NGINX, ROOT, Proxy, Server, copy_seeds, free_port

ERROR_KEYS = {"code", "status", "message", "errors"}
SLOW_CLIENTS = 2
# How long the slow clients dribble their requests: well past a few fast requests' worth.
SLOW_SECONDS = 6.0
# Reads one client sends at once in the rate-limit test: past the proxy's burst of 40.
FLOOD = 100

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason=f"nginx not installed at {NGINX} (make test installs it)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Proxy]]:
    """gunicorn (2 sync workers) over the seeds, nginx in front."""
    base = tmp_path_factory.mktemp("proxy")
    docs = copy_seeds(base / "docs")
    server = Server(docs, base / "index", workers=2).start()
    proxy = Proxy(base / "nginx", server.port).start()
    try:
        yield server, proxy
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(base / "nginx", ignore_errors=True)


def _slow_request(port: int, stop: threading.Event) -> None:
    """A client that sends one header line a second, as the attack in issue 17 did."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /api/search?q=oil HTTP/1.1\r\nHost: x\r\n")
        n = 0
        while not stop.is_set():
            try:
                sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            except OSError:
                return  # nginx gave up on us (client_header_timeout): fine
            n += 1
            stop.wait(1.0)


def _slow_body(port: int, stop: threading.Event) -> None:
    """A client that promises a body and sends it a byte a second."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        while not stop.is_set():
            try:
                sock.sendall(b" ")
            except OSError:
                return
            stop.wait(1.0)


def test_slow_clients_do_not_hold_the_workers(stack: tuple[Server, Proxy]) -> None:
    _, proxy = stack
    stop = threading.Event()
    slow = [
        threading.Thread(target=_slow_request, args=(proxy.port, stop)) for _ in range(SLOW_CLIENTS)
    ] + [threading.Thread(target=_slow_body, args=(proxy.port, stop))]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.0)  # the slow clients are connected and dribbling
        deadline = time.monotonic() + SLOW_SECONDS
        answered = 0
        while time.monotonic() < deadline:
            health = requests.get(proxy.url + "/healthz", timeout=3)
            found = requests.get(proxy.url + "/api/search", params={"q": "Huawei"}, timeout=3)
            assert health.status_code == 200 and found.status_code == 200
            assert found.json()["total"] > 0
            answered += 1
            time.sleep(0.2)  # a person's pace: under the proxy's per-client rate of reads
        assert answered >= 5
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=10)


def _raw(port: int, request: bytes) -> tuple[int, dict]:
    """Send raw bytes; the status code and JSON body of the answer."""

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head, head
    return status, json.loads(body)


def test_proxy_refusals_are_json_in_the_error_shape(stack: tuple[Server, Proxy]) -> None:
    _, proxy = stack
    long_line = b"GET /api/search?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, body = _raw(proxy.port, long_line)
    assert status == 414 and set(body) == ERROR_KEYS and body["code"] == 414

    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n"
    status, body = _raw(proxy.port, big_header)
    assert status == 431 and set(body) == ERROR_KEYS

    too_big = (
        b"POST /api/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 70000000\r\nConnection: close\r\n\r\n"
    )
    status, body = _raw(proxy.port, too_big)
    assert status == 413 and set(body) == ERROR_KEYS

    status, body = _raw(proxy.port, b"NOT A REQUEST\r\n\r\n")
    assert status == 400 and set(body) == ERROR_KEYS

    # The app's own errors pass through untouched.
    response = requests.get(proxy.url + "/api/search", params={"per_page": 500}, timeout=5)
    assert response.status_code == 422 and list(response.json()["errors"]) == ["per_page"]


def test_a_dead_upstream_is_a_json_502(tmp_path: Path) -> None:
    proxy = Proxy(tmp_path / "nginx", free_port())  # nothing listens there
    proxy.proc = subprocess.Popen([NGINX, "-c", str(proxy.conf), "-p", str(proxy.run)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(proxy.url + "/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        assert response.status_code == 502
        assert set(response.json()) == ERROR_KEYS
    finally:
        proxy.stop()


def _get_from(address: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET through the proxy from a given loopback source address: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(address, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_a_client_flooding_reads_gets_json_429_and_others_still_answer(
    stack: tuple[Server, Proxy],
) -> None:
    """Before: a client sending searches back to back took the workers' time from everyone (p99
    17 → 52 ms). Now the proxy counts reads per client address: past the burst, 429 in the error
    shape with Retry-After, while another client's searches answer as usual."""
    _, proxy = stack
    # All at once, from many connections: they reach nginx within a moment however slow the
    # machine, so the burst allowance, not the refill, decides.
    with ThreadPoolExecutor(max_workers=FLOOD) as pool:
        flood = list(
            pool.map(
                lambda _: _get_from("127.0.0.3", proxy.port, "/api/search?q=Huawei"), range(FLOOD)
            )
        )
    statuses = [status for status, _, _ in flood]
    refused = [(headers, body) for status, headers, body in flood if status == 429]
    # The burst (40, plus the one request the rate allows) passed; more was refused.
    assert statuses.count(200) >= 41 and refused, statuses
    assert set(statuses) == {200, 429}
    headers, body = refused[0]
    assert headers["content-type"].startswith("application/json")
    assert headers["retry-after"] == "1"
    assert json.loads(body) == {
        "code": 429,
        "status": "Too Many Requests",
        "message": (
            "too many searches from this client: at most 10 a second (bursts of 40); "
            "retry after a second"
        ),
        "errors": {},
    }
    status, _, body = _get_from("127.0.0.4", proxy.port, "/api/search?q=Huawei")
    assert status == 200 and json.loads(body)["total"] > 0
    # Health probes are not reads of the API: never rate-limited.
    assert _get_from("127.0.0.3", proxy.port, "/healthz")[0] == 200


def test_wildcard_searches_have_a_stricter_rate_per_client(stack: tuple[Server, Proxy]) -> None:
    """Before: admitted prefix searches (10 a second per client) kept both workers busy and
    doubled everyone's p99. Now a client's wildcard searches, however `q` is encoded, pass at 1 a
    second (bursts of 10); past that a 429 names the wildcard limit, and the client's other
    searches still answer."""
    _, proxy = stack
    paths = ["/api/search?q=Hua*", "/api/search?q=Hua%2A", "/api/search?q=Hua%3Fei"]
    with ThreadPoolExecutor(max_workers=30) as pool:
        flood = list(
            pool.map(lambda n: _get_from("127.0.0.5", proxy.port, paths[n % 3]), range(30))
        )
    statuses = [status for status, _, _ in flood]
    # The burst (10, plus what the rate refills meanwhile) passed; not the reads' 41.
    assert 11 <= statuses.count(200) <= 20 and set(statuses) == {200, 429}, statuses
    headers, body = next((h, b) for status, h, b in flood if status == 429)
    assert headers["retry-after"] == "1"
    assert json.loads(body) == {
        "code": 429,
        "status": "Too Many Requests",
        "message": (
            "too many wildcard searches from this client: at most 1 a second (bursts of 10), "
            "other searches 10 a second (bursts of 40); retry after a second"
        ),
        "errors": {},
    }
    # The refused wildcard searches were not counted as reads: plain searches still pass.
    plain = [_get_from("127.0.0.5", proxy.port, "/api/search?q=Huawei") for _ in range(20)]
    assert [status for status, _, _ in plain] == [200] * 20
    assert json.loads(plain[0][2])["total"] > 0


@pytest.mark.parametrize(
    ("conf", "names"),
    [
        ("nginx.conf", {"/opt/briefing-search": "{root}"}),
        (
            "container.conf",
            {"@APP_DIR@": "{root}", "@UPSTREAM@": "127.0.0.1:8000", "@PORT@": "8080"},
        ),
    ],
)
def test_the_shipped_nginx_configs_are_valid(
    conf: str, names: dict[str, str], tmp_path: Path
) -> None:
    """The systemd layout's nginx.conf and the container's proxy role config pass `nginx -t`
    (with this checkout's paths in place of the installed ones)."""
    text = (ROOT / "deploy" / "nginx" / conf).read_text()
    for name, value in names.items():
        assert name in text
        text = text.replace(name, value.format(root=ROOT))
    # Writable places for a test run: nginx -t opens the temp paths and the error log.
    text = text.replace("/tmp/briefing-nginx", str(tmp_path))
    rendered = tmp_path / conf
    rendered.write_text(text)
    check = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(rendered)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
