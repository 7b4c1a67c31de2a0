"""The built image, run with podman as README "Deploy and operate" tells an operator to run it."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import requests

from tests.image.build import pip_secrets
from tests.image.conftest import (
    Container,
    container,
    owned_docs,
    remove_volume,
    wait_ready,
    wait_until,
)
from tests.image.podman import DOCKERFILE, IMAGE, IMAGE_UID, REPORT, build_command, podman

KEY = "image-test-key"


def _word() -> str:
    return "zq" + uuid.uuid4().hex[:10]


def _total(url: str, query: str) -> int:
    response = requests.get(f"{url}/api/search", params={"q": query}, timeout=5)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def _document(word: str) -> str:
    return (
        "Harbour Authority Review\n\nLONDON - Officials said on Monday that "
        f"{word} shipments were reviewed by the ministry, and traders expected further "
        "changes in the coming weeks.\n"
    )


def test_serve_answers_health_readiness_search_and_the_page(served: Container) -> None:
    assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
    ready = requests.get(served.url + "/readyz", timeout=5).json()
    assert ready["documents"] == 5 and ready["passages"] > 5
    body = requests.get(
        served.url + "/api/search", params={"q": "Huawei", "country": "CR"}, timeout=5
    ).json()
    assert body["total"] >= 1
    assert body["hits"][0]["doc_id"] == "002_cb201ffc96d0d6cf.txt"
    assert "<mark>Huawei</mark>" in body["hits"][0]["highlight"]
    page = requests.get(served.url + "/", timeout=5)
    assert page.status_code == 200 and "<title>Briefing Search</title>" in page.text
    script = re.search(r'src="([^"]*search\.js[^"]*)"', page.text)
    assert script, "the page links its script"
    assert requests.get(served.url + script.group(1), timeout=5).status_code == 200


def test_the_image_health_check_passes(served: Container) -> None:
    config = podman("inspect", "--format", "{{json .Config.Healthcheck}}", served.name).stdout
    assert json.loads(config)["Test"] == [
        "CMD",
        "/app/deploy/entrypoint.sh",
        "healthcheck",
        "/healthz",
    ]
    result = podman("healthcheck", "run", served.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same probe fails when the server does not answer 200: it can tell.
    broken = podman(
        "exec",
        served.name,
        "/app/deploy/entrypoint.sh",
        "healthcheck",
        "/no-such-path",
        check=False,
    )
    assert broken.returncode == 1


def test_every_process_runs_as_the_image_user_and_the_volumes_are_writable(
    served: Container,
) -> None:
    uids = served.exec("sh", "-c", "cat /proc/[0-9]*/status | grep '^Uid:'").stdout.split("\n")
    real_uids = {line.split()[1] for line in uids if line}
    assert real_uids == {str(IMAGE_UID)}
    assert served.exec("id", "-un").stdout.strip() == "briefing"
    # The named index volume took the image's ownership, and the index was written into it.
    owners = served.exec("sh", "-c", "stat -c %u /data/index /data/index/*.toc").stdout.split()
    assert owners and set(owners) == {str(IMAGE_UID)}
    for volume in ("/data/index", "/data/docs"):
        served.exec("sh", "-c", f"touch {volume}/.probe && rm {volume}/.probe")


def test_a_file_copied_into_the_documents_volume_becomes_searchable(served: Container) -> None:
    word = _word()
    (served.docs / "dropped.txt").write_text(_document(word))
    wait_until(lambda: _total(served.url, word) == 1, 20, f"{word} searchable")
    (served.docs / "dropped.txt").unlink()
    wait_until(lambda: _total(served.url, word) == 0, 20, f"{word} gone")


def test_the_write_api_takes_uploads_with_a_key_only(served: Container) -> None:
    word = _word()
    url = served.url + "/api/documents"
    upload = {"filename": "uploads/harbour.txt", "text": _document(word)}
    assert requests.post(url, json=upload, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert requests.post(url, json=upload, headers=wrong, timeout=10).status_code == 403
    auth = {"Authorization": f"Bearer {KEY}"}
    created = requests.post(url, json=upload, headers=auth, timeout=40)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "indexed"
    assert _total(served.url, word) == 1
    # Written by the container's user into the host's folder: the operator's files stay theirs.
    assert (served.docs / "uploads" / "harbour.txt").stat().st_uid == IMAGE_UID
    removed = requests.delete(url + "/uploads/harbour.txt", headers=auth, timeout=40)
    assert removed.status_code == 200, removed.text
    assert not (served.docs / "uploads" / "harbour.txt").exists()
    assert _total(served.url, word) == 0


def test_sigterm_stops_the_container_cleanly_and_the_index_opens_afterwards(
    tmp_path: Path,
) -> None:
    docs = owned_docs(tmp_path / "docs")
    volume = f"briefing-test-{uuid.uuid4().hex[:10]}-index"
    try:
        started = time.monotonic()
        with container(docs, volume=volume) as running:
            wait_ready(running, started)
            started = time.monotonic()
            # `docker stop` / `podman stop`: the image's STOPSIGNAL, then SIGKILL after --time.
            podman("stop", "--time", "75", running.name, timeout=90)
            seconds = time.monotonic() - started
            state = podman(
                "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", running.name
            ).stdout.split()
            logs = running.logs()
        assert state == ["0", "false"], logs
        # Within gunicorn's graceful timeout (30 s by default), far from podman's SIGKILL.
        assert seconds < 30, f"stopping took {seconds:.1f} s"
        assert "Handling signal: term" in logs and "Traceback" not in logs
        # A one-off container on the same volumes: the index opens and matches the folder.
        result = podman(
            "run", "--rm", "--volume", f"{docs}:/data/docs", "--volume", f"{volume}:/data/index",
            IMAGE, "briefing", "index", "--json", timeout=120,
        )  # fmt: skip
        synced = json.loads(result.stdout)
        assert synced["documents"] == 5 and synced["unchanged"] == 5
        assert synced["added"] == synced["updated"] == synced["removed"] == 0
    finally:
        remove_volume(volume)


def test_a_broken_dockerfile_step_fails_the_build(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text()
    step = "useradd --system --uid 10001"
    assert step in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(step, "useradd --system --uid not-a-uid"))
    base = json.loads(REPORT.read_text())["base_image"]
    tag = f"localhost/briefing-search:broken-{uuid.uuid4().hex[:8]}"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    command = build_command(tag, base, pip_secrets(secrets_dir), dockerfile=broken)
    result = podman(*command, check=False, timeout=1200)
    output = result.stdout + result.stderr
    if result.returncode == 0:
        podman("rmi", "--force", tag, check=False)
    assert result.returncode != 0, output
    assert "invalid user ID 'not-a-uid'" in output, output[-2000:]
    assert podman("image", "exists", tag, check=False).returncode == 1


def test_the_api_role_never_writes_the_index(tmp_path: Path) -> None:
    docs = owned_docs(tmp_path / "docs")
    volume = f"briefing-test-{uuid.uuid4().hex[:10]}-index"
    try:
        with container(docs, role="api", volume=volume) as running:
            # A fresh volume and no start-up sync: the replica is up, not ready, and writes nothing.
            healthz = running.url + "/healthz"
            wait_until(lambda: requests.get(healthz, timeout=2).status_code == 200, 60, healthz)
            assert requests.get(running.url + "/readyz", timeout=5).status_code == 503
            assert running.exec("ls", "-A", "/data/index").stdout.strip() == ""
            assert "starting watcher" not in running.logs()
    finally:
        remove_volume(volume)
