"""Health probe for the container and the units: exit 0 when the local server answers 200.

`python deploy/healthcheck.py [/healthz]` asks http://127.0.0.1:$BRIEFING_PORT/healthz; standard
library only, so the slim image needs no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    """Probe the path in argv (default /healthz); 0 on HTTP 200, 1 otherwise."""
    path = argv[1] if len(argv) > 1 else "/healthz"
    url = f"http://127.0.0.1:{os.environ.get('BRIEFING_PORT', '8000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:  # any failure is "unhealthy"; say why for `docker inspect`
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
