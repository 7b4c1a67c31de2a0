"""A bigger index for export and read benchmarks, made from a smaller one in seconds.

    .venv/bin/python -m bench.replicate_index SRC DST --copies 4

DST gets SRC's segment files COPIES times, each copy under new segment names, and one commit
(TOC) listing them all: an index of COPIES times SRC's passages, which repeat (ids included).
The bench corpus is Reuters replicated with new ids anyway (bench/run.py); this replicates at
the segment level instead of indexing again, which at a million passages takes an hour here.
Files are copied, not linked, so each copy has pages of its own as distinct segments do.
What it does not stand for: indexing figures, and anything that needs unique ids (the start-up
sync of `briefing serve` against a documents folder). Whoosh's TOC is its own (index.py).
"""

from __future__ import annotations

import argparse
import copy
import shutil
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile

from search.store import MARKER, open_index


def _rename_members(path: Path, old_prefix: str, new_prefix: str) -> None:
    """Rename the files inside a compound segment file (its directory names them by segment
    id): the directory is rewritten at its place (whoosh.filedb.compound.CompoundStorage)."""
    with path.open("r+b") as handle:
        dbfile = StructFile(handle)
        dirpos = dbfile.read_long()
        dbfile.seek(dirpos)
        directory = dbfile.read_pickle()
        options = dbfile.read_pickle()
        renamed = {new_prefix + k[len(old_prefix) :]: v for k, v in directory.items()}
        dbfile.seek(dirpos)
        handle.truncate()
        CompoundStorage.write_dir(dbfile, 0, renamed, options)


def replicate(src: Path, dst: Path, copies: int) -> int:
    """Write DST as COPIES times SRC's segments; the passages DST holds."""
    ix = open_index(src)
    name = ix.indexname
    toc = ix._read_toc()
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copy2(src / MARKER, dst / MARKER)
    segments = []
    for n in range(copies):
        for segment in toc.segments:
            new = copy.copy(segment)
            if n:
                new.segid = segment._random_id()
            old_prefix, new_prefix = f"{name}_{segment.segid}", f"{name}_{new.segid}"
            for path in src.iterdir():
                if path.name.startswith(old_prefix):
                    target = dst / (new_prefix + path.name[len(old_prefix) :])
                    shutil.copy2(path, target)
                    if n and target.suffix == ".seg":
                        _rename_members(target, old_prefix, new_prefix)
            segments.append(new)
    toc.segments = segments
    toc.write(FileStorage(str(dst)), name)
    return int(whoosh_index.open_dir(str(dst), indexname=name).doc_count_all())


def main(argv: list[str] | None = None) -> int:
    """Replicate an index and print how many passages the copy holds."""
    parser = argparse.ArgumentParser(prog="python -m bench.replicate_index")
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args(argv)
    print(f"{replicate(args.src, args.dst, args.copies):,} passages in {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
