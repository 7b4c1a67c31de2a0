"""Parallel segment building: processes that each read, tag and write whole Whoosh segments.

Whoosh's writer is pure Python and single-threaded, and was the slower half of indexing (about two
thirds of the CPU: analysis, postings, stored fields). For a large sync, each builder process takes
a slice of the files and runs every stage on it — read, metadata, chunking, tagging, embedding
when semantic rescoring is on, and Whoosh's segment writing — into a private staging directory
below the index directory (`.staging/`, invisible to Whoosh, whose commits delete any unknown
segment file in the index directory itself). The one writer (index/sync.py) then moves a
finished segment's files in and adds the segment to the index under the lock, in its one commit
per batch: readers see whole batches, and a crash leaves the last commit.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import pickle
import shutil
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.fields import Schema

from index.model import ParsedDocument
from index.writing import FastSegmentWriter
from search.alerts.percolation import Sequencer, SequenceRanges, open_store
from search.embedding import Encoder
from search.facet_registry import FacetRegistry, default_registry
from search.processes import pid_alive
from search.settings import load_settings
from search.store import passage_fields

log = logging.getLogger(__name__)

# Below the index directory; the leading dot keeps Whoosh's file clean-up away from it.
STAGING = ".staging"
# Files per segment a builder writes (at most): Reuters-like files give ~1.4 passages each, so
# about 36,000 passages. Larger segments mean fewer segments to search and no merges at load
# time (they exceed index/merging.py's bound), but more work lost when a sync is interrupted.
SEGMENT_MAX_DOCUMENTS = 25_000
# Bytes of source files per segment (at most): PDFs and e-mails are big for their text.
SEGMENT_MAX_BYTES = 256 * 1024 * 1024
# Slices per builder (at least): the first commits land halfway through a sync, so an interrupted
# one keeps half its work, and a builder that drew slow files holds up less of the end.
SLICES_PER_WORKER = 2
# Slices given out ahead of the writer: enough to keep every builder busy while it commits.
SLICES_AHEAD = 1
# Postings a builder holds in memory (index/writing.py's estimate) before they go to Whoosh's
# pool, which spills sorted runs to disk past the same budget (Whoosh's default is 128): bounds
# each builder's memory whatever the segment size. Spilling costs CPU: with Whoosh's pool at
# 96 MB a 10,000-passage segment spilled and its builder spent 16 % more per passage. Held
# postings take ~80 bytes each, so 256 MB holds a 36,000-passage Reuters segment (~3M postings).
BUILDER_POOL_MB = 256
# Passage numbers a builder reserves at once (index/sync.py numbers passages for saved searches):
# one database write per block, not per document; what a slice leaves unused is a gap.
SEQ_BLOCK = 4096

Job = tuple[Path, Path, int, "str | None"]


@dataclass
class Built:
    """One document written into a staged segment."""

    doc_id: str
    format: str
    passages: int


@dataclass
class Skipped:
    """One file (or attachment) that could not be indexed, with the reason."""

    doc_id: str
    reason: str


@dataclass
class StagedSegment:
    """A finished segment in its staging directory, and what went into it, in file order."""

    staging: Path
    segment: Any | None
    outcomes: list[Built | Skipped] = field(default_factory=list)


def plan_slices(jobs: Sequence[Job], sizes: Sequence[int], workers: int) -> list[list[Job]]:
    """Consecutive slices of jobs, one segment each: SLICES_PER_WORKER per builder, bounded."""
    if not jobs:
        return []
    even = -(-len(jobs) // (max(1, workers) * SLICES_PER_WORKER))  # ceil
    limit = max(1, min(SEGMENT_MAX_DOCUMENTS, even))
    slices: list[list[Job]] = [[]]
    held = 0
    for job, size in zip(jobs, sizes, strict=True):
        if slices[-1] and (len(slices[-1]) >= limit or held + size > SEGMENT_MAX_BYTES):
            slices.append([])
            held = 0
        slices[-1].append(job)
        held += size
    return slices


def pack_slice(jobs: Sequence[Job]) -> bytes:
    """A slice of jobs as one bytes object (folder and size limit once, then each file's path
    and digest): what the syncer keeps of a slice until a builder takes it."""
    docs_dirs = {job[0] for job in jobs}
    limits = {job[2] for job in jobs}
    if len(docs_dirs) > 1 or len(limits) > 1:
        raise ValueError("a slice's jobs share one documents folder and one size limit")
    docs_dir = str(next(iter(docs_dirs))) if jobs else ""
    limit = next(iter(limits)) if jobs else 0
    files = [(str(path), digest) for _, path, _, digest in jobs]
    return pickle.dumps((docs_dir, limit, files), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_slice(packed: bytes) -> list[Job]:
    """The jobs pack_slice packed, in order."""
    docs, limit, files = pickle.loads(packed)
    docs_dir = Path(docs)
    return [(docs_dir, Path(path), limit, digest) for path, digest in files]


# What a builder process inherits from the syncer (set by its pool initializer).
_builder: dict[str, Any] = {}


def _init_builder(
    parent_pid: int, facets: FacetRegistry, schema: Schema, semantic: bool, index_dir: Path
) -> None:
    from index.sync import die_with_parent

    die_with_parent(parent_pid)
    # The alerts database numbers passages; each builder has its own connection.
    store = open_store(index_dir)
    _builder.update(
        facets=facets,
        schema=schema,
        semantic=semantic,
        owner=parent_pid,
        sequencer=Sequencer(store),
    )


def _encoder() -> Encoder:
    """The builder's encoder, on one thread: builders already take one core each (ONNX
    Runtime's default of a thread per core made two builders fight over both)."""
    encoder = _builder.get("encoder")
    if encoder is None:
        precision = str(load_settings()["EMBEDDING_PRECISION"])
        encoder = _builder["encoder"] = Encoder(threads=1, precision=precision)
    return encoder


def build_segment(staging_root: Path, indexname: str, packed: bytes) -> StagedSegment:
    """In a builder process: parse a packed slice's jobs and write their passages as one
    segment in staging."""
    # Imported here: index.sync imports this module.
    from index.sync import embed_documents

    jobs = unpack_slice(packed)

    staging = staging_root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    ix = whoosh_index.create_in(str(staging), _builder["schema"], indexname=indexname)
    writer = FastSegmentWriter(ix, _lk=False, limitmb=BUILDER_POOL_MB)
    staged = StagedSegment(staging, None)
    facets = _builder["facets"]
    # Released by the syncer once the segment is committed (index/sync.py).
    numbers = SequenceRanges(_builder["sequencer"], staging.name, SEQ_BLOCK, _builder["owner"])
    try:
        for results in _parsed_groups(jobs):
            if _builder["semantic"]:
                embed_documents(results, _encoder())
            for result in results:
                if isinstance(result, tuple):
                    staged.outcomes.append(Skipped(*result))
                    continue
                first_seq = numbers.take(len(result.passages))
                for record in passage_fields(result, facets, first_seq=first_seq):
                    writer.add_document(**record)
                staged.outcomes.append(Built(result.doc_id, result.format, len(result.passages)))
        if writer.doc_count():
            staged.segment = writer._finalize_segment()
            writer._finish()
        else:
            writer.cancel()
    except BaseException:
        writer.cancel()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staged


def _parsed_groups(jobs: list[Job]) -> Iterator[list[ParsedDocument | tuple[str, str]]]:
    """Each file's results (its document, then an e-mail's attachments), grouped for embedding."""
    from index.sync import EMBED_GROUP_PASSAGES, parse_or_skip

    group: list[ParsedDocument | tuple[str, str]] = []
    waiting = 0
    for job in jobs:
        results = parse_or_skip(job)
        group += results
        waiting += sum(len(r.passages) for r in results if isinstance(r, ParsedDocument))
        if not _builder["semantic"] or waiting >= EMBED_GROUP_PASSAGES:
            yield group
            group, waiting = [], 0
    if group:
        yield group


def adopt(staged: StagedSegment, index_dir: Path) -> Any:
    """Move a staged segment's files into the index directory; the segment, ready to commit."""
    segment = staged.segment
    if segment is None:
        return None
    storage = whoosh_index.open_dir(str(staged.staging), indexname=segment.indexname).storage
    for name in segment.list_files(storage):
        # Same filesystem: a rename, never a copy; the name is the segment's random id.
        os.replace(staged.staging / name, index_dir / name)
    return segment


def discard(staged: StagedSegment) -> None:
    """Remove a staging directory (after adoption it holds only Whoosh's empty TOC)."""
    shutil.rmtree(staged.staging, ignore_errors=True)


def clear_stale_staging(index_dir: Path) -> None:
    """Remove staging directories left by builders that died (their process is gone)."""
    root = index_dir / STAGING
    if not root.is_dir():
        return
    for entry in root.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


class BuilderPool:
    """Builder processes that turn slices of files into staged segments, yielded in slice order."""

    def __init__(
        self,
        workers: int,
        index_dir: Path,
        indexname: str,
        schema: Schema,
        facets: FacetRegistry | None,
        semantic: bool,
    ) -> None:
        self.staging_root = index_dir / STAGING
        self.indexname = indexname
        # fork: the registry (callables) and schema reach builders without pickling.
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_builder,
            initargs=(os.getpid(), facets or default_registry(), schema, semantic, index_dir),
        )
        self.workers = workers
        self._started = False

    def build(self, slices: list[bytes]) -> Iterator[StagedSegment]:
        """Staged segments of each packed slice (pack_slice), in order; at most workers +
        SLICES_AHEAD in flight."""
        pending: list[Future[StagedSegment]] = []
        queue = iter(slices)
        try:
            for jobs in queue:
                pending.append(self._submit(jobs))
                if len(pending) >= self.workers + SLICES_AHEAD:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled():
                    try:
                        discard(future.result())
                    except Exception:  # noqa: BLE001 - a failed slice left nothing to remove
                        log.debug("builder slice failed while stopping", exc_info=True)

    def _submit(self, packed: bytes) -> Future[StagedSegment]:
        if self._started:
            return self._pool.submit(build_segment, self.staging_root, self.indexname, packed)
        # The first submit forks every builder. Frozen, the objects the syncer holds then are
        # never visited by a builder's garbage collector, whose visits would copy the pages
        # they sit on into each builder.
        self._started = True
        gc.freeze()
        try:
            return self._pool.submit(build_segment, self.staging_root, self.indexname, packed)
        finally:
            gc.unfreeze()

    def close(self, abort: bool = False) -> None:
        """Stop the builder processes; abort (an error or Ctrl-C) kills slices still building."""
        if abort:
            # A slice takes minutes: an interrupted sync must not wait for it. The staging
            # directories of killed builders are removed by the next sync.
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
