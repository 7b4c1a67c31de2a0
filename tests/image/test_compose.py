"""deploy/compose.yaml under podman-compose: one watcher, two API replicas, nginx, one index volume.

Backs docs/scaling.md with containers: every replica serves each change the watcher commits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.image.conftest import owned_docs, wait_until
from tests.image.podman import DEPLOY, environment, podman

PODMAN_COMPOSE = str(Path(sys.executable).parent / "podman-compose")
KEY = "compose-test-key"
# The container port each published service listens on.
PUBLISHED = {"api": "8000", "proxy": "8080"}


def _compose(project: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [PODMAN_COMPOSE, "-f", str(DEPLOY / "compose.yaml"), "-p", project, *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _containers(project: str) -> list[dict[str, str]]:
    """The project's containers: name, service and (for published ones) the loopback URL."""
    listed = podman(
        "ps", "--all", "--filter", f"label=com.docker.compose.project={project}",
        "--format", "json",
    ).stdout  # fmt: skip
    found = []
    for item in json.loads(listed or "[]"):
        name = item["Names"][0]
        service = item["Labels"]["com.docker.compose.service"]
        entry = {"name": name, "service": service}
        if service in PUBLISHED:
            entry["url"] = "http://" + podman("port", name, PUBLISHED[service]).stdout.strip()
        found.append(entry)
    return found


@pytest.fixture
def compose_up(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, str]], Path]]:
    """`podman-compose up -d --scale api=2` on the seeds; everything removed afterwards."""
    docs = owned_docs(tmp_path / "docs")
    project = f"briefing-test-{uuid.uuid4().hex[:8]}"
    env = {**environment(), "DOCS_PATH": str(docs), "BRIEFING_API_KEYS": KEY}
    env.pop("PORT", None)
    try:
        # --no-build: make test-image built the image from the same Dockerfile with its base.
        up = _compose(project, "up", "-d", "--no-build", "--scale", "api=2", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        yield project, _containers(project), docs
    finally:
        _compose(project, "down", "--volumes", "--timeout", "75", env=env)
        # podman-compose's `down` misses replicas past the first: remove what is left by label.
        for leftover in _containers(project):
            podman("rm", "--force", "--time", "75", leftover["name"], check=False, timeout=120)
        podman("volume", "rm", "--force", f"{project}_index", check=False)
        podman("network", "rm", "--force", f"{project}_default", check=False)


def _total(url: str, word: str) -> int:
    response = requests.get(f"{url}/api/search", params={"q": word}, timeout=5)
    return int(response.json()["total"])


def test_compose_runs_one_writer_and_every_replica_serves_each_change(
    compose_up: tuple[str, list[dict[str, str]], Path],
) -> None:
    _project, containers, docs = compose_up
    assert sorted(c["service"] for c in containers) == ["api", "api", "proxy", "watcher"]
    replicas = [c for c in containers if c["service"] == "api"]
    urls = [c["url"] for c in replicas]
    assert len(set(urls)) == 2
    for url in urls:
        wait_until(lambda url=url: requests.get(url + "/readyz", timeout=2).json(), 60, url)
        assert requests.get(url + "/readyz", timeout=5).json()["documents"] == 5

    word = "zq" + uuid.uuid4().hex[:10]
    (docs / "dropped.txt").write_text(
        f"Harbour Authority Review\n\nLONDON - Officials said on Monday that {word} shipments "
        "were reviewed by the ministry, and traders expected further changes.\n"
    )
    for url in urls:
        wait_until(lambda url=url: _total(url, word) == 1, 20, f"{word} on {url}")
    (docs / "dropped.txt").unlink()
    for url in urls:
        wait_until(lambda url=url: _total(url, word) == 0, 20, f"{word} gone from {url}")

    # An upload through one replica lands in the shared folder; the watcher indexes it for both.
    upload = {"filename": "upload.txt", "text": f"Port Review\n\nLONDON - {word} cargo arrived."}
    auth = {"Authorization": f"Bearer {KEY}"}
    created = requests.post(urls[0] + "/api/documents", json=upload, headers=auth, timeout=40)
    assert created.status_code in {201, 202}, created.text
    for url in urls:
        wait_until(lambda url=url: _total(url, word) == 1, 20, f"upload on {url}")

    # One writer: only the watcher starts or runs one; the replicas' file system is read-only.
    for replica in replicas:
        result = podman("logs", replica["name"])
        logs = result.stdout + result.stderr
        assert "starting watcher" not in logs and "sync:" not in logs
        denied = podman("exec", replica["name"], "touch", "/app/probe", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    watcher = next(c for c in containers if c["service"] == "watcher")
    result = podman("logs", watcher["name"])
    assert "initial sync" in result.stdout + result.stderr


def test_compose_serves_through_the_proxy(
    compose_up: tuple[str, list[dict[str, str]], Path],
) -> None:
    """The compose layout puts nginx (deploy/nginx/, the image's `proxy` role) in front of the
    replicas: searches pass, and the refusals are the proxy's, in the API's error shape."""
    _project, containers, _docs = compose_up
    proxy = next(c for c in containers if c["service"] == "proxy")["url"]
    wait_until(lambda: requests.get(proxy + "/readyz", timeout=2).status_code == 200, 60, proxy)
    found = requests.get(proxy + "/api/search", params={"q": "Huawei"}, timeout=5)
    assert found.status_code == 200 and found.json()["total"] > 0
    # A request line over the proxy's 16 KiB: gunicorn alone would pass it to the app (422 on q).
    too_long = requests.get(proxy + "/api/search", params={"q": "a" * 20_000}, timeout=5)
    assert too_long.status_code == 414
    assert set(too_long.json()) == {"code", "status", "message", "errors"}
    # Reads from one client past the burst: the proxy's JSON 429.
    statuses = {requests.get(proxy + "/api/facets", timeout=5).status_code for _ in range(80)}
    assert 429 in statuses
