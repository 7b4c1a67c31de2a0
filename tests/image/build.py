"""Build the image for `make test-image`: podman, a local Debian base, then deploy/Dockerfile.

`python -m tests.image.build [--secrets-dir DIR]` installs podman, runc, debootstrap and iptables
(netavark's firewall) with apt-get when they are missing, makes (or reuses) a Debian base image with Python from the mirror apt uses
here, and builds localhost/briefing-search:latest (and :lexical, without the embedding model or OCR) from
deploy/Dockerfile with that base as BASE_IMAGE. No image registry is reachable from these machines,
so the official Python image cannot be pulled; everything else is the operator's build.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.image.podman import (
    IMAGE,
    LEXICAL_IMAGE,
    REPORT,
    build_command,
    environment,
    image_exists,
    podman,
)

# Command -> the Debian package that provides it. iptables is only a Suggests of podman, but
# netavark runs it for every container network (a RUN step included): without it a build fails
# with "netavark: No such file or directory (os error 2)", as on a bare machine of 2026-12-01.
TOOLS = {
    "podman": "podman",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
}
# Rootless helpers and overlay support podman recommends; cheap, and missing ones fail obscurely.
EXTRA_PACKAGES = ["uidmap", "fuse-overlayfs", "slirp4netns", "netavark", "aardvark-dns"]
# What the official python:*-slim image offers the Dockerfile: `python -m venv` with pip, and CAs.
BASE_PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates"]
# Bump to rebuild cached base images when the recipe below changes.
BASE_RECIPE = "2"
CACHE_DIR = Path(os.environ.get("BRIEFING_IMAGE_CACHE") or "/var/cache/briefing-search")
# pip settings worth passing into the build; local file:// indexes do not exist inside it.
PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "cert", "timeout", "default-timeout")


def log(message: str) -> None:
    """Progress on stderr, so make shows what the long steps are doing."""
    print(f"[test-image] {message}", file=sys.stderr, flush=True)


def ensure_tools() -> None:
    """apt-get install podman, runc, debootstrap and iptables when any is missing (CI starts bare)."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    log(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *TOOLS.values(), *EXTRA_PACKAGES],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def host_codename() -> str:
    """This machine's Debian release (bookworm): the base image matches it."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("no VERSION_CODENAME in /etc/os-release: not a Debian machine?")


def _sources() -> list[tuple[list[str], list[str]]]:
    """(URIs, suites) of every enabled deb source, one-line and deb822 formats alike."""
    found: list[tuple[list[str], list[str]]] = []
    apt = Path("/etc/apt")
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append(([words[1]], [words[2]]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for block in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                found.append((fields.get("uris", "").split(), fields.get("suites", "").split()))
    return found


def debian_mirror(codename: str) -> str:
    """The mirror apt uses here for the release itself (not -updates or -security)."""
    for uris, suites in _sources():
        if codename in suites and uris:
            return uris[0]
    raise SystemExit(f"no apt source for {codename} in /etc/apt: cannot debootstrap")


def base_image() -> str:
    """A Debian image with Python, made by debootstrap once and cached; returns its name."""
    codename = host_codename()
    mirror = debian_mirror(codename)
    key = hashlib.sha256(
        json.dumps([BASE_RECIPE, codename, mirror, BASE_PACKAGES]).encode()
    ).hexdigest()[:12]
    name = f"localhost/briefing-base:{codename}-{key}"
    if image_exists(name):
        log(f"base image {name} is cached in podman's storage")
        return name
    tarball = CACHE_DIR / f"base-{codename}-{key}.tar"
    if not tarball.is_file():
        _debootstrap(codename, mirror, tarball)
    # One base at a time: an older recipe's tarball and image are only disk space now.
    for stale in CACHE_DIR.glob("base-*.tar"):
        if stale != tarball:
            stale.unlink()
    for stale_name in _tags("localhost/briefing-base"):
        podman("rmi", stale_name, check=False)
    log(f"importing {tarball} as {name}")
    podman(
        "import",
        "--change",
        "ENV=LANG=C.UTF-8",
        "--change",
        'CMD=["python3"]',
        str(tarball),
        name,
        timeout=600,
    )
    return name


def _tags(repository: str) -> list[str]:
    """Every local image name in a repository (briefing-base:TAG, …)."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout
    return [name for name in listed.split() if name.startswith(repository + ":")]


def _image_id(name: str) -> str | None:
    """The image's id, or None when there is no such image."""
    result = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _debootstrap(codename: str, mirror: str, tarball: Path) -> None:
    """debootstrap a minimal root with BASE_PACKAGES and pack it into the cache."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"debootstrap {codename} from the apt mirror of this machine (1 to 4 minutes)")
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                codename,
                str(root),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # What slim images leave out too: package lists, downloaded .debs, docs, manuals, translations.
        for junk in (
            "var/cache/apt",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
        ):
            for child in (root / junk).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        partial = tarball.with_suffix(".part")
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
        )
        partial.rename(tarball)  # whole or absent: an interrupted run never leaves half a cache
    log(f"base root filesystem ready in {time.monotonic() - started:.0f} s")


def pip_settings() -> dict[str, str]:
    """This machine's effective pip settings (`pip config list`, environment included)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        key = name.rsplit(".", 1)[-1]
        if key in PIP_KEYS:
            # `pip config list` goes from the lowest to the highest priority: the last one wins.
            settings[key] = value.strip().strip("'\"")
    for key in PIP_KEYS:
        env_value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env_value:
            settings[key] = env_value
    return settings


def pip_secrets(directory: Path) -> list[str]:
    """Write the pip.conf (and CA bundle) secrets the Dockerfile's pip steps read."""
    settings = pip_settings()
    conf = configparser.ConfigParser()
    conf["global"] = {}
    secrets = []
    for key in ("index-url", "extra-index-url"):
        urls = [u for u in settings.get(key, "").split() if not u.startswith("file:")]
        if urls:
            conf["global"][key] = " ".join(urls)
    if settings.get("trusted-host"):
        conf["global"]["trusted-host"] = settings["trusted-host"]
    timeout = settings.get("timeout") or settings.get("default-timeout")
    if timeout:
        conf["global"]["timeout"] = timeout
    if settings.get("cert") and Path(settings["cert"]).is_file():
        # The machine may trust a CA the base image does not: hand pip the same bundle.
        ca = directory / "pip-ca.crt"
        shutil.copyfile(settings["cert"], ca)
        conf["global"]["cert"] = "/run/secrets/pip-ca.crt"
        secrets.append(f"id=pip-ca.crt,src={ca}")
    pip_conf = directory / "pip.conf"
    with pip_conf.open("w") as handle:
        conf.write(handle)
    secrets.append(f"id=pip.conf,src={pip_conf}")
    return secrets


def build(image: str, base: str, secrets: list[str], semantic: bool, ocr: bool = True) -> float:
    """Build deploy/Dockerfile into image; return the seconds it took."""
    started = time.monotonic()
    flags = f"SEMANTIC={str(semantic).lower()}, OCR={str(ocr).lower()}"
    log(f"podman build {image} (BASE_IMAGE={base}, {flags})")
    previous = _image_id(image)
    command = build_command(image, base, secrets, semantic=semantic, ocr=ocr)
    subprocess.run(["podman", *command], check=True, env=environment(), timeout=1800)
    if previous and previous != _image_id(image):
        # The image this build replaced, with its build-cache layers: every CI run on one
        # machine would otherwise leave half a gigabyte behind. Layers still in use stay.
        podman("rmi", previous, check=False)
    return time.monotonic() - started


def image_size(image: str) -> int:
    """The image's size in bytes, as `podman images` counts it (all layers, uncompressed)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())


def main(argv: list[str] | None = None) -> int:
    """Install the tools, make the base, build both images and write the build report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets-dir", type=Path, help="Keep the pip secrets here (debugging).")
    args = parser.parse_args(argv)
    started = time.monotonic()
    ensure_tools()
    base = base_image()
    with tempfile.TemporaryDirectory(prefix="briefing-pip-") as tmp:
        secrets = pip_secrets(args.secrets_dir or Path(tmp))
        seconds = build(IMAGE, base, secrets, semantic=True)
        # The slim variant: BM25 alone, no OCR (the size goal is for an image without the model).
        lexical_seconds = build(LEXICAL_IMAGE, base, secrets, semantic=False, ocr=False)
    report = {
        "image": IMAGE,
        "base_image": base,
        "size_bytes": image_size(IMAGE),
        "lexical_image": LEXICAL_IMAGE,
        "lexical_size_bytes": image_size(LEXICAL_IMAGE),
        "base_size_bytes": image_size(base),
        "build_seconds": round(seconds, 1),
        "lexical_build_seconds": round(lexical_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    mb = 1_000_000
    log(
        f"{IMAGE}: {report['size_bytes'] / mb:.0f} MB; {LEXICAL_IMAGE}: "
        f"{report['lexical_size_bytes'] / mb:.0f} MB; base {report['base_size_bytes'] / mb:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
