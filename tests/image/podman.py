"""podman as `make test-image` runs it: one place for the image names, settings and the call."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
IGNOREFILE = DEPLOY / "Dockerfile.dockerignore"
IMAGE = os.environ.get("BRIEFING_IMAGE") or "localhost/briefing-search:latest"
# The same image without semantic rescoring (SEMANTIC=false), built for its size.
LEXICAL_IMAGE = IMAGE.rsplit(":", 1)[0] + ":lexical"
# Where the last build left the base image's name, the sizes and the build time (make test-image).
REPORT = ROOT / "var" / "image" / "build.json"
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
# The image's user (deploy/Dockerfile, README "Deploy and operate").
IMAGE_UID = 10001


def environment() -> dict[str, str]:
    """The process environment with podman pointed at our containers.conf (runtime, ulimits)."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout: float = 120, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; raise with its output when check is on and it fails."""
    result = subprocess.run(
        ["podman", *args],
        env=environment(),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def image_exists(name: str) -> bool:
    """Whether podman's local storage holds an image of that name."""
    return podman("image", "exists", name, check=False).returncode == 0


def build_command(
    image: str,
    base: str,
    secrets: list[str],
    dockerfile: Path = DOCKERFILE,
    semantic: bool = True,
    ocr: bool = True,
) -> list[str]:
    """`podman build` of deploy/Dockerfile as an operator runs it, with only the base swapped."""
    # --format docker: the OCI format has no HEALTHCHECK, and podman would drop it (Docker
    # always builds this format). The ignore file is the one BuildKit finds beside the Dockerfile.
    command = ["build", "--format", "docker", "--file", str(dockerfile)]
    command += ["--ignorefile", str(IGNOREFILE), "--build-arg", f"BASE_IMAGE={base}"]
    if not semantic:
        command += ["--build-arg", "SEMANTIC=false"]
    if not ocr:
        command += ["--build-arg", "OCR=false"]
    for secret in secrets:
        command += ["--secret", secret]
    return [*command, "--tag", image, str(ROOT)]
