"""Fixtures for the image tests: containers of the built image, run as the README tells operators."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.image.podman import IMAGE, IMAGE_UID, REPORT, image_exists, podman
from tests.serving import copy_seeds, free_port, wait_until

# Filled by the fixtures, printed at the end of the run (and kept in var/image/run.json).
MEASURED: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once, with the fix, when there is no podman or no image to test."""
    if shutil.which("podman") is None or not image_exists(IMAGE):
        raise pytest.UsageError(f"no podman or no {IMAGE}: run `make test-image`")


def owned_docs(path: Path) -> Path:
    """The seeds in a folder the image's user owns, as the README asks for uploads."""
    copy_seeds(path)
    for item in [path, *path.iterdir()]:
        os.chown(item, IMAGE_UID, IMAGE_UID)
    return path


@dataclass
class Container:
    """One running container of the image, published on a loopback port."""

    name: str
    url: str
    docs: Path
    volume: str

    def logs(self) -> str:
        """Everything the container wrote to stdout and stderr."""
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container, as the image's user."""
        return podman("exec", self.name, *command)

    def ready(self) -> bool:
        """Whether /readyz answers 200; fails the test if the container has stopped."""
        state = podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
        if state != "true":
            pytest.fail(f"{self.name} stopped:\n{self.logs()}")
        return requests.get(self.url + "/readyz", timeout=2).status_code == 200


def wait_ready(running: Container, started: float) -> None:
    """Wait for the first /readyz 200 and record the seconds since `podman run` (docs/image.md)."""
    wait_until(running.ready, 60, f"{running.name} /readyz")
    MEASURED.setdefault("startup_seconds", []).append(round(time.monotonic() - started, 2))


@contextlib.contextmanager
def container(
    docs: Path, role: str = "serve", env: dict[str, str] | None = None, volume: str | None = None
) -> Iterator[Container]:
    """`podman run -p … -v DOCS:/data/docs -v VOLUME:/data/index IMAGE ROLE`, removed afterwards."""
    name = f"briefing-test-{uuid.uuid4().hex[:10]}"
    volume = volume or f"{name}-index"
    port = free_port()
    args = ["run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:8000"]
    args += ["--volume", f"{docs}:/data/docs", "--volume", f"{volume}:/data/index"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    podman(*args, IMAGE, role)
    try:
        yield Container(name, f"http://127.0.0.1:{port}", docs, volume)
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def remove_volume(volume: str) -> None:
    """Drop a named volume the tests made."""
    podman("volume", "rm", "--force", volume, check=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """The default `serve` role on the seeds, a write key set; first /readyz 200 is timed."""
    docs = owned_docs(tmp_path_factory.mktemp("served") / "docs")
    started = time.monotonic()
    with container(docs, env={"BRIEFING_API_KEYS": "image-test-key"}) as running:
        wait_ready(running, started)
        yield running
    remove_volume(running.volume)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print image size and start-up time before pytest's closing line (docs/image.md)."""
    if "startup_seconds" not in MEASURED:
        return
    if REPORT.is_file():
        MEASURED.update(json.loads(REPORT.read_text()))
    REPORT.with_name("run.json").write_text(json.dumps(MEASURED, indent=2) + "\n")
    mb = 1_000_000
    seconds = ", ".join(f"{s} s" for s in MEASURED["startup_seconds"])
    lines = [f"podman run to the first /readyz 200 on the seeds, fresh index volume: {seconds}"]
    if "size_bytes" in MEASURED:
        lines.append(
            f"{MEASURED['image']}: {MEASURED['size_bytes'] / mb:.0f} MB; "
            f"{MEASURED['lexical_image']}: {MEASURED['lexical_size_bytes'] / mb:.0f} MB; "
            f"base {MEASURED['base_image']}: {MEASURED['base_size_bytes'] / mb:.0f} MB"
        )
    terminalreporter.write_sep("-", "image")
    for line in lines:
        terminalreporter.write_line(line)
