"""Keep the Whoosh index in step with the documents folder: new, changed and removed files only."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from whoosh.index import Index
from whoosh.writing import IndexWriter

from index.building import (
    BuilderPool,
    Job,
    Skipped,
    adopt,
    clear_stale_staging,
    discard,
    pack_slice,
    plan_slices,
)
from index.errors import DocumentSkipped, IndexingError
from index.merging import commit_with, log_merge
from index.model import ParsedDocument
from index.pipeline import NO_BODY_REASON, content_hash, doc_id_for, parse_file
from index.readers import DEFAULT_MAX_BYTES, format_for
from index.writing import FastSegmentWriter
from search.alerts.db import AlertStore, db_path
from search.alerts.delivery import ensure_deliverer
from search.alerts.percolation import Percolator, Sequencer, SequenceRanges, open_store
from search.embedding import Encoder, shared_encoder, to_bytes
from search.facet_registry import FacetRegistry, default_registry
from search.readers import share_mapped_files
from search.searching import SearchEngine
from search.settings import load_settings
from search.store import (
    IndexedDocument,
    IndexView,
    WritableIndex,
    activate,
    open_for_writing,
    passage_fields,
)

log = logging.getLogger(__name__)

# How long a writer waits for another process's lock before giving up (the watcher and a manual
# `briefing index` may overlap; waiting beats failing).
WRITER_LOCK_TIMEOUT = 120.0
# Each commit writes a segment that later merges rewrite: fewer, larger commits index faster,
# while a crash loses at most one batch.
BATCH_DOCUMENTS = 2000
BATCH_PASSAGES = 10000
# Below this many files to parse, builder processes cost more than they save (they start, load
# the taggers and write a segment each): small watcher batches are written here, serially.
POOL_THRESHOLD = 64
# Passages embedded per encoder call when semantic rescoring is on.
EMBED_GROUP_PASSAGES = 64


class IndexBusy(IndexingError):
    """Another writer held the index lock for longer than we were willing to wait."""


@dataclass
class SyncReport:
    """What one sync did; `to_json()` is the `briefing index --json` contract."""

    documents: int = 0
    passages: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    # Documents indexed (added or updated) by this sync, per format: {"pdf": 3, "eml": 1}.
    formats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    changed_doc_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The report as the JSON object printed by `briefing index --json`."""
        data = asdict(self)
        data.pop("changed_doc_ids")
        data["seconds"] = round(self.seconds, 3)
        return data


def is_ignored(path: Path) -> bool:
    """True for hidden, temporary and partial files that must never be indexed."""
    return _ignored_name(path.name) or any(part.startswith(".") for part in path.parts[:-1])


def _ignored_name(name: str) -> bool:
    """True for a hidden, temporary or partial file's name."""
    return name.startswith((".", "~$", "~")) or name.endswith(
        (".tmp", ".part", ".crdownload", ".swp", "~")
    )


def scan_folder(docs_dir: Path) -> dict[str, Path]:
    """Every candidate file below docs_dir (subfolders included) keyed by doc_id."""
    found: dict[str, Path] = {}
    _scan_into(found, str(docs_dir), "")
    return found


def _scan_into(found: dict[str, Path], folder: str, prefix: str) -> None:
    """Add folder's files, then its subfolders' (each in name order, as os.walk top-down with
    sorted names gave), under doc_ids prefixed by prefix. os.scandir's entries know their type
    from the directory listing: a file costs no stat and no pathlib parsing (os.walk and
    relative_to cost 27 us a file, 1.9 s for 69,606 files; this ~2 us)."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=attrgetter("name"))
    except OSError:
        return  # a folder gone or unreadable meanwhile: os.walk skipped it too
    folders = []
    for entry in entries:
        name = entry.name
        if entry.is_dir():
            # Hidden folders (.git, .cache) are never walked; a link to a folder is not
            # followed (os.walk's default), so a loop of links cannot trap the scan.
            if not name.startswith(".") and not entry.is_symlink():
                folders.append(entry)
            continue
        if not _ignored_name(name) and entry.is_file():
            found[prefix + name] = Path(entry.path)
    for entry in folders:
        _scan_into(found, entry.path, f"{prefix}{entry.name}/")


def indexed_documents(
    ix: Index, doc_ids: Iterable[str] | None = None, embeddings: bool = False
) -> dict[str, IndexedDocument]:
    """doc_id → what the index recorded about each file (see IndexView.known_documents)."""
    with ix.searcher() as searcher:
        return IndexView(searcher).known_documents(doc_ids, embeddings=embeddings)


def indexed_below(ix: Index, folder: str) -> set[str]:
    """doc_ids indexed below a folder (a removed or moved folder takes these with it)."""
    with ix.searcher() as searcher:
        return IndexView(searcher).indexed_below(folder)


def open_writer(ix: Index, timeout: float = WRITER_LOCK_TIMEOUT) -> IndexWriter:
    """A writer on ix, waiting out another process's lock instead of failing at once."""
    from whoosh.index import LockError

    try:
        return FastSegmentWriter(ix, timeout=timeout, delay=0.05)
    except LockError as exc:
        raise IndexBusy(f"index locked by another writer for over {timeout:.0f}s") from exc


# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Builder-pool initializer: the kernel SIGKILLs this builder when its parent dies, however.

    Without it a SIGKILLed watcher leaves its pool children blocked on their queue for good,
    each holding its memory (issue 17: 238 MB an hour later).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl took effect: then nobody would signal us.
    if os.getppid() != parent_pid:
        os._exit(1)


def parse_or_skip(args: Job) -> list[ParsedDocument | tuple[str, str]]:
    """The file's document (then an e-mail's attachments), or (doc_id, reason) for each skip."""
    docs_dir, path, max_bytes, digest = args
    try:
        results = parse_file(docs_dir, path, max_bytes=max_bytes, digest=digest)
    except DocumentSkipped as exc:
        return [(doc_id_for(docs_dir, path), exc.reason)]
    except (OSError, UnicodeError, ValueError) as exc:
        # A file vanishing or breaking mid-read is a skip with a reason, never an aborted batch.
        return [(doc_id_for(docs_dir, path), f"unreadable: {exc}")]
    doc = results[0]
    if isinstance(doc, ParsedDocument) and not doc.passages:
        return [(doc.doc_id, NO_BODY_REASON)]  # an e-mail without a body drops its attachments
    return results


def attachment_parent(doc_id: str, files: Mapping[str, Path]) -> str | None:
    """The e-mail in files that doc_id is an attachment of (`<e-mail>/<name>`), if any."""
    parent = doc_id.rpartition("/")[0]
    return parent if parent in files and format_for(parent) == "eml" else None


def delete_document(writer: IndexWriter, ix: Index, doc_id: str) -> list[str]:
    """Delete a document's passages, and an e-mail's attachments with it; return the doc_ids."""
    writer.delete_by_term("doc_id", doc_id)
    deleted = [doc_id]
    if format_for(doc_id) == "eml":
        for attachment in sorted(indexed_below(ix, doc_id)):
            writer.delete_by_term("doc_id", attachment)
            deleted.append(attachment)
    return deleted


def embed_documents(
    group: list[ParsedDocument | tuple[str, str]], encoder: Encoder | None = None
) -> None:
    """Give the passages of the parsed documents in group their embeddings, in one encoder call
    (the process's shared encoder unless one is given)."""
    _embed_group(encoder or shared_encoder(), group)


def _embed_group(encoder: Encoder, group: list[ParsedDocument | tuple[str, str]]) -> None:
    passages = [
        (doc.metadata.title, passage)
        for doc in group
        if isinstance(doc, ParsedDocument)
        for passage in doc.passages
    ]
    # The title goes with each passage, as in the BM25 text field: it says what the passage is about.
    texts = [f"{title}. {p.text}" if title else p.text for title, p in passages]
    for (_, passage), vector in zip(passages, encoder.encode(texts), strict=True):
        passage.embedding = to_bytes(vector)


def index_workers() -> int:
    """Builder processes for large syncs: BRIEFING_INDEX_WORKERS, or one per core when 0."""
    configured = int(load_settings()["INDEX_WORKERS"])
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


@dataclass
class _SyncRun:
    """What the stages of one sync share: what the index knew, what goes, what happened."""

    state: dict[str, IndexedDocument]
    removed: set[str]
    report: SyncReport
    sequencer: Sequencer
    progress: Callable[[int, int], None] | None
    total: int
    done: int = 0

    def step(self) -> None:
        """One more file (or attachment) handled: tell the progress callback."""
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


class IndexSyncer:
    """Brings an index in line with a documents folder, one Whoosh commit per batch."""

    def __init__(
        self,
        docs_dir: str | os.PathLike[str],
        index_dir: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        workers: int | None = None,
        semantic: bool = False,
        facets: FacetRegistry | None = None,
    ) -> None:
        self.docs_dir = Path(docs_dir).resolve()
        self.facets = facets or default_registry()
        # A searcher over the index (deletions, counts, percolation) otherwise copies every
        # segment's sub-files into memory: 3.8 GB at the end of a million-passage sync.
        share_mapped_files()
        self.index_dir = Path(index_dir)
        self.max_bytes = max_bytes
        # Builder processes for large syncs, each parsing files and writing whole segments
        # (index/building.py); 0: everything in this process. None: BRIEFING_INDEX_WORKERS.
        self.workers = workers if workers is not None else index_workers()
        # Embed passages for semantic rescoring (search/embedding.py); the encoder loads lazily.
        self.semantic = semantic
        self.writable: WritableIndex = open_for_writing(self.index_dir, self.facets)
        self.ix = self.writable.index
        # Saved searches: passages are numbered as committed, and each sync ends with a
        # percolation of the new ones (search/alerts/); the engine is kept between syncs.
        self._engine: SearchEngine | None = None
        self.percolator = Percolator(self._search_engine)

    def sync_all(self, progress: Callable[[int, int], None] | None = None) -> SyncReport:
        """Sync the whole folder: add new files, replace changed ones, drop removed ones."""
        return self._sync(scan_folder(self.docs_dir), full=True, progress=progress)

    def sync_paths(self, paths: Iterable[Path]) -> SyncReport:
        """Sync just these paths: existing files are (re)indexed if changed, missing ones removed."""
        present: dict[str, Path] = {}
        gone: set[str] = set()
        for path in paths:
            path = Path(path)
            if not path.is_absolute():
                path = self.docs_dir / path
            try:
                rel = path.resolve().relative_to(self.docs_dir)
            except ValueError:
                continue
            if is_ignored(rel):
                continue
            if path.is_dir():
                present.update(
                    {f"{rel.as_posix()}/{k}": v for k, v in scan_folder(path).items()}
                    if rel.as_posix() != "."
                    else scan_folder(path)
                )
            elif path.is_file():
                present[rel.as_posix()] = path
            else:
                gone.add(rel.as_posix())
        return self._sync(present, full=False, gone=gone)

    def _sync(
        self,
        files: dict[str, Path],
        full: bool,
        gone: set[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        # The alerts database is open for one sync only: API workers build a syncer per write.
        with closing(open_store(self.index_dir)) as store:
            return self._sync_with(store, files, full, gone, progress)

    def _sync_with(
        self,
        store: AlertStore,
        files: dict[str, Path],
        full: bool,
        gone: set[str] | None,
        progress: Callable[[int, int], None] | None,
    ) -> SyncReport:
        sequencer = Sequencer(store)
        started = time.perf_counter()
        report = SyncReport()
        self.ix = self._fresh_index()
        if self.writable.rebuilding and not full:
            # The index readers serve was built for another schema: rebuild it whole (readers
            # keep the old one until this commits), whatever batch asked for the sync.
            files, full = scan_folder(self.docs_dir), True
        if self.writable.rebuilding:
            log.warning("rebuilding the index from %s: %s", self.docs_dir, self.writable.reason)
        if full:
            state = indexed_documents(self.ix, embeddings=self.semantic)
            # Attachments have no file of their own: they stay while their e-mail does.
            removed = {d for d in set(state) - set(files) if attachment_parent(d, files) is None}
        else:
            # A removed folder: everything indexed below it goes too.
            gone_ids = set(gone or ())
            for folder in gone or ():
                gone_ids |= indexed_below(self.ix, folder)
            state = indexed_documents(self.ix, set(files) | gone_ids, embeddings=self.semantic)
            removed = {d for d in gone_ids if d in state}

        to_parse: list[Job] = []
        sizes: list[int] = []
        for doc_id, path in files.items():
            known = state.get(doc_id)
            try:
                stat = path.stat()
            except OSError:
                if known:
                    removed.add(doc_id)
                continue
            if known and self.semantic and not known.embedded:
                # Indexed before semantic rescoring was turned on: parse and embed it again.
                to_parse.append((self.docs_dir, path, self.max_bytes, None))
                sizes.append(stat.st_size)
                continue
            if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
                report.unchanged += 1
                continue
            digest = None
            if known and known.size == stat.st_size:
                try:
                    digest = content_hash(path)
                except OSError:
                    continue
                if digest == known.content_hash:
                    report.unchanged += 1
                    continue
            to_parse.append((self.docs_dir, path, self.max_bytes, digest))
            sizes.append(stat.st_size)

        if to_parse:
            sequencer.ensure(self._max_sequence)
        run = _SyncRun(state, removed, report, sequencer, progress, len(to_parse))
        if self.workers >= 1 and len(to_parse) >= POOL_THRESHOLD:
            slices = [pack_slice(s) for s in plan_slices(to_parse, sizes, self.workers)]
            # The listing goes before the builders fork (at the first slice): forked after it,
            # each builder would map its pages (~470 MB at 700,000 files, measured) and any
            # page either side touched after (the syncer sending a slice) would exist twice.
            # `files` is this sync's own dict (sync_all's scan, sync_paths' batch).
            files.clear()
            del to_parse, sizes
            self._build_in_parallel(slices, run)
        else:
            self._write_serially(to_parse, run)
        if removed:
            writer = open_writer(self.ix)
            try:
                for doc_id in sorted(removed):
                    report.changed_doc_ids += delete_document(writer, self.ix, doc_id)
            except BaseException:
                writer.cancel()
                raise
            self._commit(writer)
            report.removed = len(removed)
        rebuilt = self.writable.rebuilding
        if rebuilt:
            activate(self.index_dir, self.writable)
            log.warning("rebuilt index is now served (%s)", self.writable.target.name)
        self.ix = self._fresh_index()
        self._percolate(store, skip=rebuilt)
        with self.ix.searcher() as searcher:
            view = IndexView(searcher)
            report.passages = view.passage_count()
            report.documents = view.document_count()
        report.seconds = time.perf_counter() - started
        if report.added or report.updated or report.removed:
            log.info(
                "sync: %d added, %d updated, %d removed, %d unchanged, %d skipped in %.2fs",
                report.added,
                report.updated,
                report.removed,
                report.unchanged,
                len(report.skipped),
                report.seconds,
            )
        return report

    def _max_sequence(self) -> int:
        """The highest passage number in the index being written (a lost counter restarts
        from it)."""
        with self.ix.searcher() as searcher:
            return IndexView(searcher).max_sequence()

    def _search_engine(self) -> SearchEngine:
        if self._engine is None:
            from index.tagging import topic_tagger

            self._engine = SearchEngine(self.index_dir, topic_tagger().labels, facets=self.facets)
        return self._engine

    def _percolate(self, store: AlertStore, skip: bool) -> None:
        """Run saved searches over what this sync committed; never fails the sync."""
        try:
            report = self.percolator.run(store, skip=skip)
        except Exception:
            # Alerts must never stop indexing: the cursor stays, the next sync retries.
            log.exception("percolation failed")
            return
        if report.deliveries:
            ensure_deliverer(db_path(self.index_dir))

    def _write_serially(self, jobs: list[Job], run: _SyncRun) -> None:
        """Parse and write here, batch by batch (a few files: builders would cost more)."""
        # Each document's numbers are reserved as it is written, exactly (no gaps), open until
        # its batch commits: a builder of another sync reserving meanwhile gets others.
        numbers = SequenceRanges(run.sequencer, f"{os.getpid()}-serial-{uuid.uuid4().hex[:12]}")
        writer: IndexWriter | None = None
        pending_docs = pending_passages = 0
        parsed = (result for job in jobs for result in parse_or_skip(job))
        try:
            for result in self._embedded(parsed):
                run.step()
                if isinstance(result, tuple):
                    self._skipped(result[0], result[1], run)
                    continue
                if writer is None:
                    writer = open_writer(self.ix)
                self._replace_old(writer, result.doc_id, result.format, run)
                first_seq = numbers.take(len(result.passages))
                for record in passage_fields(result, self.facets, first_seq=first_seq):
                    writer.add_document(**record)
                pending_docs += 1
                pending_passages += len(result.passages)
                if pending_docs >= BATCH_DOCUMENTS or pending_passages >= BATCH_PASSAGES:
                    self._commit(writer)
                    writer = None
                    numbers.release()
                    pending_docs = pending_passages = 0
            if writer is not None:
                self._commit(writer)
                writer = None
        finally:
            if writer is not None:
                # Interrupted mid-batch: drop the uncommitted batch, the last commit stays readable.
                writer.cancel()
            numbers.release()

    def _build_in_parallel(self, slices: list[bytes], run: _SyncRun) -> None:
        """Builder processes write whole segments (index/building.py); each is one commit here.

        Builders number their passages from ranges they reserve (Sequencer.reserve) before
        their segment commits; percolation stops below a range still open, so a passage
        committed later than higher-numbered ones is still percolated.
        """
        sequencer = run.sequencer
        clear_stale_staging(self.index_dir)
        pool = BuilderPool(
            self.workers,
            self.index_dir,
            self.writable.target.name,
            self.ix.schema,
            self.facets,
            self.semantic,
        )
        aborted = True
        try:
            for staged in pool.build(slices):
                try:
                    writer = open_writer(self.ix)
                    try:
                        for outcome in staged.outcomes:
                            run.step()
                            if isinstance(outcome, Skipped):
                                self._skipped(outcome.doc_id, outcome.reason, run)
                            else:
                                self._replace_old(writer, outcome.doc_id, outcome.format, run)
                        segment = adopt(staged, self.index_dir)
                    except BaseException:
                        writer.cancel()
                        raise
                    self._commit(writer, [segment] if segment is not None else [])
                finally:
                    discard(staged)
                    sequencer.release(staged.staging.name)
            aborted = False
        finally:
            pool.close(abort=aborted)
            # Ranges of slices that never committed: their numbers stay unused.
            sequencer.release_owner(os.getpid())

    def _skipped(self, doc_id: str, reason: str, run: _SyncRun) -> None:
        log.warning("skipped %s: %s", doc_id, reason)
        run.report.skipped.append({"path": doc_id, "reason": reason})
        if doc_id in run.state:
            # The file is still there but no longer indexable: its old passages go.
            run.removed.add(doc_id)

    def _replace_old(self, writer: IndexWriter, doc_id: str, fmt: str, run: _SyncRun) -> None:
        """Count a document (re)indexed in this batch, deleting its old passages in the batch."""
        report = run.report
        if doc_id in run.state:
            # An e-mail's old attachments go with it; its current ones follow it.
            report.changed_doc_ids += delete_document(writer, self.ix, doc_id)[1:]
            report.updated += 1
        else:
            report.added += 1
        report.formats[fmt] = report.formats.get(fmt, 0) + 1
        report.changed_doc_ids.append(doc_id)

    def _commit(self, writer: IndexWriter, segments: Sequence[Any] = ()) -> None:
        """The one place a sync commits: the writer's batch, plus segments built elsewhere.

        The merge policy (index/merging.py) runs first, then the writer's own new segment (if it
        added documents) and the built segments join the index in one new table of contents.
        """
        commit_with(writer, log_merge, segments)

    def _fresh_index(self) -> Index:
        # Reopen so the TOC generation reflects commits made by any other process.
        self.writable = open_for_writing(self.index_dir, self.facets)
        return self.writable.index

    def _embedded(
        self, results: Iterator[ParsedDocument | tuple[str, str]]
    ) -> Iterator[ParsedDocument | tuple[str, str]]:
        """Pass results through, giving parsed documents' passages embeddings when semantic is on.

        Documents are embedded in groups, so the encoder runs full batches of similar lengths.
        """
        if not self.semantic:
            yield from results
            return
        encoder = shared_encoder()
        group: list[ParsedDocument | tuple[str, str]] = []
        waiting = 0
        for result in results:
            group.append(result)
            if isinstance(result, ParsedDocument):
                waiting += len(result.passages)
            if waiting >= EMBED_GROUP_PASSAGES:
                _embed_group(encoder, group)
                yield from group
                group, waiting = [], 0
        _embed_group(encoder, group)
        yield from group
