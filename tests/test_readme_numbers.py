"""Numbers the README states that come from code: a change to either side fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

import index.building as building
import index.merging as merging
import index.sync as sync
import index.writing as writing
from api.schemas import ApiSchemas
from index.readers import DEFAULT_MAX_BYTES
from index.readers.base import (
    DEFAULT_MAX_EMAIL_BYTES,
    DEFAULT_MAX_PDF_BYTES,
    DEFAULT_MAX_WORD_BYTES,
)
from search.facet_registry import default_registry
from search.facets import MAX_SLOTS, OVERFLOW_SHARE
from search.querying import PARSE_CACHE_SIZE
from search.rescoring import RESCORE_WINDOW
from search.segments import POSTINGS_CACHE_BYTES
from search.settings import SETTINGS_BY_NAME
from search.snapshots import (
    FILTER_CACHE_SIZE,
    MATCH_CACHE_SIZE,
    PAGE_CACHE_SIZE,
    RANKING_CACHE_SIZE,
    REQUEST_CACHE_SIZE,
)

MB = 1024 * 1024
# Numbers the README spells out.
NUMBER_WORDS = {2: "two", 4: "four", 10: "ten"}
SHARE_WORDS = {1 / 4: "a quarter", 1 / 8: "an eighth"}
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
# README text is wrapped: compare with runs of white space folded.
FOLDED = " ".join(README.split())


def _facet_size_default() -> int:
    field = ApiSchemas.build(default_registry()).search_args().fields["facet_size"]
    return int(field.load_default)


@pytest.mark.parametrize(
    "phrase",
    [
        f"batches ({sync.BATCH_DOCUMENTS:,} documents or {sync.BATCH_PASSAGES:,} passages)",
        *(
            f"| {SETTINGS_BY_NAME[name].default // MB} MB `BRIEFING_{name}` |"
            for name in ("MAX_DOCUMENT_BYTES", "MAX_PDF_BYTES", "MAX_WORD_BYTES", "MAX_EMAIL_BYTES")
        ),
        f"A sync of {sync.POOL_THRESHOLD} files or more",
        f"(at most {building.SEGMENT_MAX_DOCUMENTS:,} files or "
        f"{building.SEGMENT_MAX_BYTES // MB} MB, and at least "
        f"{NUMBER_WORDS[building.SLICES_PER_WORKER]} slices per builder)",
        f"never into a segment over {merging.MAX_MERGE_PASSAGES:,} passages",
        f"A builder holds up to {building.BUILDER_POOL_MB} MB of postings",
        f"a postings block whose pickle is under {writing.COMPRESS_MIN_BYTES} bytes is stored",
        f"{NUMBER_WORDS[merging.MERGE_FACTOR]} segments of a size tier are merged into one",
        f"(default {_facet_size_default()}) per facet",
        f"re-ranks its top {RESCORE_WINDOW}",
        f"at most {NUMBER_WORDS[MAX_SLOTS]} slots, the fewest that leave no more further values "
        f"than {SHARE_WORDS[OVERFLOW_SHARE]} of the passages have",
        f"Decoded postings (up to {POSTINGS_CACHE_BYTES // (1024 * 1024)} MB) and the last "
        f"{MATCH_CACHE_SIZE} match sets",
        f"the facet counts of the last {REQUEST_CACHE_SIZE} searches, the masks of the last "
        f"{FILTER_CACHE_SIZE} filters and the ranked pages of the last {RANKING_CACHE_SIZE}",
        f"the passages shown on the last {PAGE_CACHE_SIZE} pages",
        f"Query readings (the last {PARSE_CACHE_SIZE})",
    ],
)
def test_readme_states_the_codes_number(phrase: str) -> None:
    assert phrase in FOLDED


def test_readers_and_settings_agree_on_size_limits() -> None:
    defaults = {
        "MAX_DOCUMENT_BYTES": DEFAULT_MAX_BYTES,
        "MAX_PDF_BYTES": DEFAULT_MAX_PDF_BYTES,
        "MAX_WORD_BYTES": DEFAULT_MAX_WORD_BYTES,
        "MAX_EMAIL_BYTES": DEFAULT_MAX_EMAIL_BYTES,
    }
    assert {name: SETTINGS_BY_NAME[name].default for name in defaults} == defaults
