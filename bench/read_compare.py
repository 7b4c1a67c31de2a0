"""The read side of two versions alternated over one existing index: search latency by kind and
a commit's cost to a warm worker (for changes that keep the schema).

    .venv/bin/python -m bench.read_compare OLD_REV --index DIR [--rounds 5] [--repeats 2]

OLD_REV is exported (`git archive`) into a temporary folder; the working tree is the new side.
Each run is a child process with its side's code first on sys.path and the new side's benchmark
(bench/run.py: query kinds, timing); runs alternate old, new, old, new, so background load falls
on both alike. The index is copied once per side so a commit on one side never reaches the other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import importlib.util, json, pathlib, sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
for name in [m for m in sys.modules if m.split(".")[0] in ("search", "index", "api", "bench")]:
    del sys.modules[name]
mode, index_dir, rounds, bench_file = sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
spec = importlib.util.spec_from_file_location("bench_run", bench_file)
bench_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_run)
if mode == "commit":
    print(json.dumps(bench_run.bench_commit(index_dir)))
else:
    print(json.dumps(bench_run.bench_engine(index_dir, rounds)))
"""


def _child(root: Path, mode: str, index_dir: Path, rounds: int) -> dict[str, Any]:
    bench_file = ROOT / "bench" / "run.py"
    args = [str(root), mode, str(index_dir), str(rounds), str(bench_file)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], check=True, capture_output=True, text=True, cwd=root
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Alternate both sides' engine and commit runs; print each run and a summary as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.read_compare", description=__doc__)
    parser.add_argument("old", help="git revision of the old side")
    parser.add_argument("--index", type=Path, required=True, help="an index both sides read")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="briefing-read-compare-") as tmp:
        work = Path(tmp)
        old_root = work / "old"
        old_root.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.old], check=True, capture_output=True, cwd=ROOT
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        sides = {"old": old_root, "new": ROOT}
        results: dict[str, Any] = {side: {"engine": [], "commit": []} for side in sides}
        for side in sides:
            shutil.copytree(args.index, work / f"index-{side}")
        for _ in range(args.repeats):
            for side, root in sides.items():
                for mode in ("engine", "commit"):
                    run = _child(root, mode, work / f"index-{side}", args.rounds)
                    results[side][mode].append(run)
                    print(side, mode, json.dumps(run.get("all", run)), flush=True)
    print(json.dumps(summary(results), indent=2))
    return 0


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per side and query kind the best p50/p95/p99 of the runs; the commit runs as measured."""
    out: dict[str, Any] = {}
    for side, data in results.items():
        kinds = data["engine"][0].keys()
        out[side] = {
            kind: {
                pct: min(run[kind][pct] for run in data["engine"])
                for pct in ("p50_ms", "p95_ms", "p99_ms")
            }
            for kind in kinds
        }
        out[side]["commit"] = data["commit"]
    return out


if __name__ == "__main__":
    sys.exit(main())
