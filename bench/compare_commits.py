"""Two versions of the engine measured in one run: indexing and in-process search, alternated.

    .venv/bin/python -m bench.compare_commits OLD_REV [--size 20000] [--rounds 10]
    .venv/bin/python -m bench.compare_commits OLD_REV --size 100000 --index-only --index-repeats 2

Indexing runs alternate too (old, new, old, new, ...), each timed end to end with its CPU seconds
(the process and the helpers it reaped) and the peak RSS of its process tree, the host gauge
before and after it (bench.run.host_gauge: how fast the host was), and the load average
around it: on a shared machine CPU seconds per passage are the steadier figure.

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
import os
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
    import shutil
    from index.sync import IndexSyncer
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    report = IndexSyncer(docs, index_dir).sync_all()
    seconds = time.perf_counter() - started
    print(json.dumps({"passages": report.passages, "seconds": round(seconds, 2),
                      "passages_per_s": round(report.passages / seconds, 1)}))
else:
    from bench.run import bench_engine
    print(json.dumps(bench_engine(__import__("pathlib").Path(index_dir), rounds)))
"""


def _timed_index(root: Path, docs: Path, index_dir: Path) -> dict[str, Any]:
    """One indexing child: its result, CPU seconds, peak RSS of its tree and the load around it."""
    from bench.run import TreePeak, host_gauge

    gauge = host_gauge()  # the host's speed around the run (bench/run.py)
    load = os.getloadavg()[0]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), "index", str(docs), str(index_dir), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=root,
    )
    sampler = TreePeak(proc.pid, 0.5)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    peak = sampler.stop()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"indexing with {root} failed")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    result.update(
        cpu_s=round(cpu, 1),
        passages_per_cpu_s=round(result["passages"] / cpu, 1),
        peak_rss_mb=round(peak / 1024),
        load_before=round(load, 1),
        load_after=round(os.getloadavg()[0], 1),
        gauge_ms_before=gauge,
        gauge_ms_after=host_gauge(),
    )
    return result


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
    parser.add_argument(
        "--index-repeats", type=int, default=1, help="alternating indexing runs per side"
    )
    parser.add_argument("--index-only", action="store_true", help="skip the search runs")
    parser.add_argument("--docs", type=Path, help="an existing corpus folder to index instead")
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
            docs = args.docs or work / "docs"
            if not args.docs:
                articles = load_articles()
                write_corpus(articles, docs, math.ceil(args.size / passages_per_article(articles)))
            sides = {"old": old_root, "new": ROOT}
            results: dict[str, Any] = {side: {"engine": [], "indexing": []} for side in sides}
            for _ in range(args.index_repeats):
                for side, root in sides.items():
                    run = _timed_index(root, docs, work / f"ix-{side}")
                    results[side]["indexing"].append(run)
                    print(side, "index", json.dumps(run), flush=True)
            for side in sides:
                # The best run: background load only ever slows a run down.
                best = max(results[side]["indexing"], key=lambda r: r["passages_per_s"])
                results[side]["index"] = best
            for _ in range(0 if args.index_only else args.repeats):
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
        kinds = data["engine"][0].keys() if data["engine"] else []
        out[side] = {
            "index_passages_per_s": data["index"]["passages_per_s"],
            "indexing_runs": data.get("indexing", []),
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
