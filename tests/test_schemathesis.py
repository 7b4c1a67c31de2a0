"""schemathesis (pinned in pyproject) against real gunicorn: the spec and the server agree.

Reads run every check schemathesis has. Writes run every check but two, for one stated reason: a
document's content rules (binary or undecodable bytes, empty once boilerplate is removed, a path
segment over 255 UTF-8 bytes) cannot be said in JSON Schema, so "schema-valid request rejected"
and "schema-violating request accepted" would flag those rules themselves. Everything else about
the writes (status codes, error shape, headers, auth, the spec's own rules) is checked.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import Server, copy_seeds

KEY = "schemathesis-key"
# Examples per operation: enough for every phase to cover each parameter, bounded so the run
# stays around a minute on two cores.
MAX_EXAMPLES = 15
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONTENT_RULE_CHECKS = "positive_data_acceptance,negative_data_rejection"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the seeds, writes on (indexed by the request itself: no watcher)."""
    base = tmp_path_factory.mktemp("schemathesis")
    docs = copy_seeds(base / "docs")
    env = {"BRIEFING_API_KEYS": KEY, "BRIEFING_WRITE_TIMEOUT": "5"}
    with Server(docs, base / "index", workers=2, env=env) as srv:
        yield srv


def _run(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            server.url + "/api/openapi.json",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--generation-deterministic",
            "--header",
            f"Authorization: Bearer {KEY}",
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_read_endpoints_pass_every_check(server: Server) -> None:
    result = _run(server, "--checks", "all", "--include-method", "GET")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_write_endpoints_pass_every_check_but_content_rules(server: Server) -> None:
    result = _run(
        server,
        "--checks",
        "all",
        "--exclude-checks",
        CONTENT_RULE_CHECKS,
        "--exclude-method",
        "GET",
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
