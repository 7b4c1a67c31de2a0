"""Two versions of the engine measured in one run: indexing and in-process search, alternated.

    .venv/bin/python -m bench.compare_commits OLD_REV [--size 20000] [--rounds 10]

OLD_REV is checked out into a temporary git worktree; the working tree is the new side. Each side
runs in its own child process with its own code first on sys.path (the editable install's import
hook is set aside), on the same Reuters corpus: `IndexSyncer.sync_all` (passages/s) and
`bench.run.bench_engine` (four facets, every query kind), the engine runs alternating between the
sides so background load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
for name in [m for m in sys.modules if m.split(".")[0] in ("search", "index", "api", "bench")]:
    del sys.modules[name]
mode, docs, index_dir, rounds = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
if mode == "index":
    from index.sync import IndexSyncer
    started = time.perf_counter()
    report = IndexSyncer(docs, index_dir).sync_all()
    seconds = time.perf_counter() - started
    print(json.dumps({"passages": report.passages, "seconds": round(seconds, 2),
                      "passages_per_s": round(report.passages / seconds, 1)}))
else:
    from bench.run import bench_engine
    print(json.dumps(bench_engine(__import__("pathlib").Path(index_dir), rounds)))
"""


def _child(root: Path, mode: str, docs: Path, index_dir: Path, rounds: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode, str(docs), str(index_dir), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Index the same corpus with both versions and compare their search latencies."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare_commits", description=__doc__)
    parser.add_argument("old", help="git revision of the old side")
    parser.add_argument("--size", type=int, default=20_000, help="passages in the corpus")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2, help="alternating engine runs per side")
    args = parser.parse_args(argv)
    from bench.run import load_articles, passages_per_article, write_corpus

    with tempfile.TemporaryDirectory(prefix="briefing-compare-") as tmp:
        work = Path(tmp)
        old_root = work / "old"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old_root), args.old],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        try:
            articles = load_articles()
            docs = work / "docs"
            write_corpus(articles, docs, math.ceil(args.size / passages_per_article(articles)))
            sides = {"old": old_root, "new": ROOT}
            results: dict[str, Any] = {side: {"engine": []} for side in sides}
            for side, root in sides.items():
                results[side]["index"] = _child(root, "index", docs, work / f"ix-{side}", 0)
                print(side, "index", results[side]["index"], flush=True)
            for _ in range(args.repeats):
                for side, root in sides.items():
                    run = _child(root, "engine", docs, work / f"ix-{side}", args.rounds)
                    results[side]["engine"].append(run)
                    print(side, "engine", run["all"], flush=True)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old_root)], cwd=ROOT, check=False
            )
    print(json.dumps(summary(results), indent=2))
    return 0


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per side: indexing passages/s and, per query kind, the best p50 and p95 of the runs."""
    out: dict[str, Any] = {}
    for side, data in results.items():
        kinds = data["engine"][0].keys()
        out[side] = {
            "index_passages_per_s": data["index"]["passages_per_s"],
            **{
                kind: {
                    "p50_ms": min(run[kind]["p50_ms"] for run in data["engine"]),
                    "p95_ms": min(run[kind]["p95_ms"] for run in data["engine"]),
                }
                for kind in kinds
            },
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
