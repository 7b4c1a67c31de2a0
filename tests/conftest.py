"""Test collection: the container image tests run only under `make test-image`."""

from __future__ import annotations

import os

# tests/image needs podman and a built image (minutes to make): `make test-image` sets
# BRIEFING_IMAGE_TESTS and runs that folder alone, so `make test` stays fast and podman-free.
collect_ignore = [] if os.environ.get("BRIEFING_IMAGE_TESTS") else ["image"]
