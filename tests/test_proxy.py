"""Real nginx (deploy/nginx/briefing-proxy.conf) in front of real gunicorn on loopback ports.

Before: no proxy; two clients sending a header line every 2 s held both sync workers and /healthz
timed out for 20 s; gunicorn's own refusals were HTML. Now nginx holds the slow clients, the
workers keep answering, and every refusal nginx makes is in the API's error shape.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serving import ROOT, Server, copy_seeds, free_port

NGINX = os.environ.get("BRIEFING_NGINX", "/usr/sbin/nginx")
PROXY_CONF = ROOT / "deploy" / "nginx" / "briefing-proxy.conf"
ERROR_KEYS = {"code", "status", "message", "errors"}
SLOW_CLIENTS = 2
# How long the slow clients dribble their requests: well past a few fast requests' worth.
SLOW_SECONDS = 6.0

MAIN_CONF = """
daemon off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    map $http_x_request_id $request_id_or_new {{
        default $http_x_request_id;
        "" $request_id;
    }}
    map "" $briefing_error_root {{ default {errors}; }}
    upstream briefing_api {{ server 127.0.0.1:{upstream}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        include {proxy_conf};
    }}
}}
"""

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason=f"nginx not installed at {NGINX} (make test installs it)"
)


class Proxy:
    """nginx in the foreground with the deploy/ proxy config, in front of one upstream port."""

    def __init__(self, run_dir: Path, upstream: int) -> None:
        self.run = run_dir
        self.run.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = MAIN_CONF.format(
            run=self.run,
            upstream=upstream,
            port=self.port,
            proxy_conf=PROXY_CONF,
            errors=PROXY_CONF.parent / "errors",
        )
        self.conf = self.run / "nginx.conf"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proxy:
        """Start nginx and wait until it proxies /healthz."""
        check = subprocess.run(
            [NGINX, "-t", "-c", str(self.conf), "-p", str(self.run)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([NGINX, "-c", str(self.conf), "-p", str(self.run)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError((self.run / "error.log").read_text())

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: graceful) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


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
        assert answered >= 5
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=10)


def _raw(port: int, request: bytes) -> tuple[int, dict]:
    """Send raw bytes; the status code and JSON body of the answer."""
    import json

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
