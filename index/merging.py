"""Which segments a commit merges: a bounded log merge policy (Lucene's LogMergePolicy, sized).

Whoosh's default (`MERGE_SMALL`) merges every segment below a Fibonacci bound: once an index holds
twenty-odd large segments, one ordinary commit rewrites most of the index (at a million passages
that cost minutes and 3.2 GB in `briefing index`). Here segments sit in tiers by their live
passage count (powers of MERGE_FACTOR); a tier holding MERGE_FACTOR segments is merged into one,
so each passage is rewritten about log(n) times in all, and no merge ever produces a segment over
MAX_MERGE_PASSAGES: the segments parallel builders write (index/building.py) are never rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

# Segments of one tier merged together: Lucene's default, fewer merges against fewer segments.
MERGE_FACTOR = 10
# Largest segment a merge may produce: Whoosh merges ~2,700 passages/s on one core here, so a
# commit that merges stays within ~20 s, and bulk-built segments (larger) are left whole.
MAX_MERGE_PASSAGES = 50_000


def tier(passages: int) -> int:
    """A segment's size tier: 0 below MERGE_FACTOR passages, then one per power of it."""
    return 0 if passages < MERGE_FACTOR else int(math.log(passages, MERGE_FACTOR))


def segments_to_merge(segments: Sequence[Any]) -> list[Any]:
    """The segments a commit should merge: emptied ones, and each full tier within the bound."""
    chosen = [seg for seg in segments if seg.doc_count() == 0]
    tiers: dict[int, list[Any]] = {}
    for seg in segments:
        live = seg.doc_count()
        if 0 < live < MAX_MERGE_PASSAGES:
            tiers.setdefault(tier(live), []).append(seg)
    for _, members in sorted(tiers.items()):
        if len(members) < MERGE_FACTOR:
            continue
        members.sort(key=lambda s: s.doc_count())
        group: list[Any] = []
        total = 0
        for seg in members:
            if total + seg.doc_count() > MAX_MERGE_PASSAGES:
                break
            group.append(seg)
            total += seg.doc_count()
        if len(group) > 1:
            chosen += group
    return chosen


def log_merge(writer: SegmentWriter, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy: merge the chosen segments into the writer's new one, keep the rest."""
    chosen = segments_to_merge(segments)
    for seg in chosen:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    ids = {id(seg) for seg in chosen}
    return [seg for seg in segments if id(seg) not in ids]


def commit_with(writer: Any, policy: Any, segments: Sequence[Any] = ()) -> None:
    """Commit writer under merge policy, adding segments written by other processes.

    What SegmentWriter.commit does (merge, finish the writer's own segment, write the table of
    contents), plus finished segments already in the index directory, as Whoosh's MpWriter does
    with its sub-writers' segments. The lock is released however it ends.
    """
    writer._check_state()
    try:
        final = writer._merge_segments(policy, None, None)
        if writer._added:
            final.append(writer._finalize_segment())
        else:
            writer._close_segment()
        writer._commit_toc(final + list(segments))
    finally:
        writer._finish()
