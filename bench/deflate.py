"""What compressing a segment costs: the writer's real inputs, each compressor alternated.

    .venv/bin/python -m bench.deflate [--size 10000] [--repeats 3]

Reuters articles are written as files (as bench/run.py does), read and tagged by the real
pipeline, and written as one segment by `FastSegmentWriter` with Whoosh's zlib
(`index.writing.DEFLATE = None`), every byte string handed to the compressor kept: the postings
blocks (`write_term`) and the stored-field pickles (Whoosh 3's stored column). Then each
candidate compresses all of them, candidates taking turns `--repeats` times (the best time of
each is reported, so a slow phase of a shared host falls on all alike), and every output is
checked to inflate, by the standard library's zlib as Whoosh's reader does, to its input.
zlib-ng is measured when its package is installed (it is not a dependency).

A second figure puts the compressor in its place: the share of a serial build's CPU (reading,
tagging, writing, committing; `time.process_time`) spent compressing, with zlib and with the
default (`DEFLATE`), each build timing its compressor's calls.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

import index.writing as writing
from bench.run import load_articles, passages_per_article, write_corpus
from index.sync import parse_or_skip, scan_folder
from search.facet_registry import default_registry
from search.store import build_schema, passage_fields

Compress = Callable[[bytes, int], bytes]


def candidates() -> dict[str, tuple[Compress, int]]:
    """Compressor name → (compress, level): zlib at Whoosh's level, ISA-L's levels, zlib-ng."""
    from isal import isal_zlib

    found: dict[str, tuple[Compress, int]] = {
        "zlib level 3 (Whoosh's)": (zlib.compress, 3),
        "zlib level 1": (zlib.compress, 1),
        "ISA-L level 1 (DEFLATE)": (isal_zlib.compress, 1),
        "ISA-L level 2": (isal_zlib.compress, 2),
        "ISA-L level 3": (isal_zlib.compress, 3),
    }
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return found
    found["zlib-ng level 1"] = (zlib_ng.compress, 1)
    found["zlib-ng level 3"] = (zlib_ng.compress, 3)
    return found


def build_segment(docs: Path, limit: int, deflate: writing.Deflate | None) -> dict[str, Any]:
    """Parse and write up to `limit` passages of docs as one segment with deflate (None: zlib)
    as the compressor; the inputs it compressed, by kind, and the CPU seconds of the build and
    of the compressor's calls."""
    inputs: dict[str, list[bytes]] = {"postings blocks": [], "stored fields": []}
    spent = [0.0]

    def recording(kind: str, compress: Compress) -> Compress:
        def call(data: bytes, level: int) -> bytes:
            started = time.process_time()
            out = compress(data, level)
            spent[0] += time.process_time() - started
            inputs[kind].append(bytes(data))
            return out

        return call

    chosen = deflate or writing.Deflate(zlib.compress, 3)
    facets = default_registry()
    saved = writing.DEFLATE
    writing.DEFLATE = writing.Deflate(recording("postings blocks", chosen.compress), chosen.level)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ix = whoosh_index.create_in(tmp, build_schema(facets))
            writer = writing.FastSegmentWriter(ix, _lk=False, limitmb=256)
            # The writer's own hook, with the stored fields' calls recorded apart.
            stored = writing.Deflate(recording("stored fields", chosen.compress), chosen.level)
            writing._deflate_stored_fields(writer.perdocwriter, stored)
            started, passages = time.process_time(), 0
            for path in scan_folder(docs).values():
                for result in parse_or_skip((docs, path, 1 << 30, None)):
                    if isinstance(result, tuple):
                        continue
                    for record in passage_fields(result, facets, first_seq=passages):
                        writer.add_document(**record)
                        passages += 1
                if passages >= limit:
                    break
            writer._finalize_segment()
            writer._finish()
            cpu = time.process_time() - started
    finally:
        writing.DEFLATE = saved
    return {"passages": passages, "cpu_s": cpu, "compress_s": spent[0], "inputs": inputs}


def time_candidates(inputs: dict[str, list[bytes]], repeats: int) -> list[dict[str, Any]]:
    """Per candidate and kind of input: best seconds over the repeats and bytes out."""
    found = candidates()
    best: dict[tuple[str, str], float] = {}
    sizes: dict[tuple[str, str], int] = {}
    for _ in range(repeats):
        for name, (compress, level) in found.items():
            for kind, items in inputs.items():
                started = time.perf_counter()
                out = [compress(data, level) for data in items]
                seconds = time.perf_counter() - started
                key = (name, kind)
                best[key] = min(best.get(key, seconds), seconds)
                sizes[key] = sum(map(len, out))
                if any(zlib.decompress(o) != d for o, d in zip(out, items, strict=True)):
                    raise AssertionError(f"{name} did not inflate back to its input ({kind})")
    return [
        {
            "compressor": name,
            "input": kind,
            "calls": len(inputs[kind]),
            "mb_in": round(sum(map(len, inputs[kind])) / 1e6, 2),
            "seconds": round(best[name, kind], 3),
            "mb_out": round(sizes[name, kind] / 1e6, 3),
        }
        for name in found
        for kind in inputs
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="passages in the segment")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    articles = load_articles()
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_corpus(articles, docs, int(args.size / passages_per_article(articles)) + 1)
        plain = build_segment(docs, args.size, None)
        default = build_segment(docs, args.size, writing.DEFLATE)
    rows = time_candidates(plain["inputs"], args.repeats)
    print("| compressor | input | calls | MB in | seconds (best) | MB out |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['compressor']} | {row['input']} | {row['calls']:,} | {row['mb_in']} | "
            f"{row['seconds']} | {row['mb_out']} |"
        )
    for name, build in (("zlib level 3", plain), ("DEFLATE", default)):
        share = 100 * build["compress_s"] / build["cpu_s"]
        per = 1e6 / build["passages"]
        summary = {
            "build": name,
            "passages": build["passages"],
            "cpu_us_per_passage": round(build["cpu_s"] * per),
            "compress_us_per_passage": round(build["compress_s"] * per),
            "compress_share_pct": round(share, 1),
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
