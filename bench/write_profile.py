"""Where indexing time goes, per stage: py-spy samples of one in-process sync, summed by stage.

    .venv/bin/python -m bench.write_profile [--size 20000] [--workers 0] [--rate 50]

Reuters articles are written as files (as bench/run.py does) and indexed by `IndexSyncer` under
`py-spy record` (the dev extra pins it); with --workers 0 every stage runs in one process, so
the samples divide the whole cost. Each sample is charged to the first stage found on its stack,
in the order of STAGES (Whoosh's commit before its add_document, tagging before reading, ...).
Sampling is by wall clock over running threads: on a busy machine the shares still hold.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import load_articles, passages_per_article, write_corpus

# (stage, substrings of a frame "function (file:line)" that mark it), first match wins.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("Whoosh merge", ("add_reader (whoosh",)),
    ("Whoosh commit: postings and segment files", ("_finalize_segment (whoosh",)),
    (
        "Whoosh add_document: analysis and postings",
        ("add_document (whoosh", "add_document (index/writing"),
    ),
    ("embedding", ("embed_documents", "_embed_group")),
    ("subject countries", ("subject_countries (index",)),
    ("country tagging", ("(index/tagging/countries.py", "(index/tagging/places.py")),
    ("topic tagging", ("(index/tagging/topics.py",)),
    ("chunking", ("chunk_text (index",)),
    ("metadata", ("extract_metadata (index",)),
    ("reading files", ("read_file (index",)),
    ("record building", ("passage_fields (search",)),
    ("what the index knows, folder scan", ("known_documents", "scan_folder")),
]

CHILD = r"""
import sys
from index.sync import IndexSyncer
report = IndexSyncer(sys.argv[1], sys.argv[2], workers=int(sys.argv[3])).sync_all()
print(report.passages)
"""


def stage_shares(raw: Path) -> dict[str, float]:
    """Percent of samples per stage from py-spy's raw (collapsed stack) output."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        samples = int(number)
        total += samples
        stage = next(
            (name for name, marks in STAGES if any(mark in stack for mark in marks)), "other"
        )
        counts[stage] += samples
    return {name: round(100 * n / max(total, 1), 1) for name, n in counts.most_common()}


def main(argv: list[str] | None = None) -> int:
    """Write a corpus, index it under py-spy, print each stage's share as JSON and a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.write_profile", description=__doc__)
    parser.add_argument("--size", type=int, default=20_000, help="passages in the corpus")
    parser.add_argument("--workers", type=int, default=0, help="builder processes (0: serial)")
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    args = parser.parse_args(argv)
    spy = Path(sys.executable).parent / "py-spy"
    with tempfile.TemporaryDirectory(prefix="briefing-profile-") as tmp:
        work = Path(tmp)
        articles = load_articles()
        write_corpus(articles, work / "docs", math.ceil(args.size / passages_per_article(articles)))
        raw = work / "samples.txt"
        command = [str(spy), "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
        if args.workers:
            command.append("--subprocesses")
        command += ["--", sys.executable, "-c", CHILD, str(work / "docs"), str(work / "index")]
        command.append(str(args.workers))
        subprocess.run(command, check=True, capture_output=True)
        shares = stage_shares(raw)
        shutil.rmtree(work / "index", ignore_errors=True)
    print(json.dumps(shares, indent=2))
    print("| stage | share of samples |\n| --- | ---: |")
    for name, share in shares.items():
        print(f"| {name} | {share} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
