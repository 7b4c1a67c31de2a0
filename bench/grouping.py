"""What grouping by document, counting in documents and the timeline cost a search, in process.

    .venv/bin/python -m bench.grouping --index-dir DIR [--rounds 15]

On an existing index (bench/export.py builds one), the same queries run as a plain search
(A) and with each addition (B: group=document; facet_unit=document; histogram=month; all
three), interleaved query by query and round by round so load drifts touch every variant alike.
The first round is a warm-up (it opens the searcher and builds the passage → document array,
timed on its own). Match sets are cached per index view after it, so the figures are what
each addition costs on top of matching, as when an analyst pages or ticks facets. Prints p50
and p95 per variant, in ms, as JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from search.grouping import document_codes
from search.results import SearchRequest
from search.searching import SearchEngine

QUERIES = (
    SearchRequest(q="said"),
    SearchRequest(q="oil prices"),
    SearchRequest(q="trade deficit japan"),
    SearchRequest(q='"central bank"'),
    SearchRequest(q="", sort="newest"),
    SearchRequest(q="bank", filters={"country": ["US"]}),
)
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "group=document": {"group": "document"},
    "facet_unit=document": {"facet_unit": "document"},
    "histogram=month": {"histogram": "month"},
    "all three": {"group": "document", "facet_unit": "document", "histogram": "month"},
}


def p(values: list[float], q: float) -> float:
    """The q-quantile of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    engine = SearchEngine(args.index_dir)
    with engine.reading() as snap:
        passages = int(snap.facets.live.sum())
        started = time.perf_counter()
        document_codes(snap)
        build_s = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_no in range(args.rounds + 1):
        for query in QUERIES:
            for name, extra in VARIANTS.items():
                started = time.perf_counter()
                engine.search(replace(query, **extra))
                if round_no:  # round 0 warms every cache up
                    times[name].append((time.perf_counter() - started) * 1000)
    results = {
        "passages": passages,
        "load_average": round(os.getloadavg()[0], 1),
        "document_codes_build_s": round(build_s, 2),
        "ms": {
            name: {"p50": round(statistics.median(v), 1), "p95": round(p(v, 0.95), 1)}
            for name, v in times.items()
        },
    }
    print(json.dumps(results, indent=2))
    print(f"\n{passages:,} passages; passage → document array built in {build_s:.2f} s\n")
    print("| search | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for name, ms in results["ms"].items():
        print(f"| {name} | {ms['p50']} | {ms['p95']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
