"""Start the real `briefing serve` (gunicorn) on a free loopback port for tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
BRIEFING = str(Path(sys.executable).parent / "briefing")
NGINX = os.environ.get("BRIEFING_NGINX", "/usr/sbin/nginx")
PROXY_CONF = ROOT / "deploy" / "nginx" / "briefing-proxy.conf"
HTTP_CONF = ROOT / "deploy" / "nginx" / "briefing-http.conf"
# deploy/nginx/nginx.conf with paths of a temp run folder, a loopback port and one upstream
# (its worker and connection settings too: the wildcard benchmark measures this proxy).
MAIN_CONF = """
daemon off;
worker_processes auto;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {http_conf};
    map "" $briefing_error_root {{ default {errors}; }}
    upstream briefing_api {{ server 127.0.0.1:{upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        include {proxy_conf};
    }}
}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_seeds(target: Path) -> Path:
    """Copy the seed documents into target (created) and return it."""
    target.mkdir(parents=True, exist_ok=True)
    for path in SEEDS.iterdir():
        shutil.copy2(path, target / path.name)
    return target


class Server:
    """A `briefing serve` subprocess; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        docs: Path,
        index_dir: Path,
        workers: int = 2,
        watch: bool = False,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.docs = docs
        self.index_dir = index_dir
        self.workers = workers
        self.watch = watch
        self.env = env or {}
        self.extra_args = extra_args or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = index_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0, ready: bool = True) -> Server:
        """Launch the server and (unless ready=False) wait until /readyz answers 200."""
        args = [
            BRIEFING,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--docs",
            str(self.docs),
            "--index-dir",
            str(self.index_dir),
            *self.extra_args,
        ]
        if not self.watch:
            args.append("--no-watch")
        env = {**os.environ, "BRIEFING_LOG_FORMAT": "text", **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        if not ready:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (master, workers, watcher, parse pool) and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the whole process group (master, workers, watcher) and wait for it."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET a path on the server."""
        return requests.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll check() until it returns something truthy (request errors count as not yet); fail after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            result = check()
            if result:
                return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


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
            http_conf=HTTP_CONF,
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
