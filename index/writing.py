"""Whoosh's segment writer with two per-posting costs cut: a contained dive into Whoosh's writer.

Profiled on Reuters passages (`python -m bench.write_profile`, and cProfile of a serial sync),
two costs in Whoosh 2.7.4's `SegmentWriter` are per token or per posting and need not be:

- **Analysis.** `field.index()` runs the text analyzer as a chain of generators passing one
  mutable Token through tokenizer, lowercase, stop and stem filters, then groups positions in
  `Positions.word_values`: about a dozen Python calls per token. For the chain our schema uses
  (search/analysis.py: regex tokenizer, lowercase, stop words with renumbered positions, stems),
  `chain_settings` reads the chain's own settings and `positions_items` does the same work in
  one loop, with a stem cache per writer. Any other analyzer or format goes through Whoosh.
- **Field lengths at commit.** `FieldWriter.add_postings` asks the new segment's per-document
  reader for the field length of every posting; the reader looks the column up each time,
  and for fields with no length column (IDs, tags: not scorable) stats the column's file on
  disk, once per posting. `PreloadedLengths` reads each length column once instead.

Both give byte-for-byte the segment Whoosh writes: tests/test_writing.py compares every
posting, length and stored field of an index written by each, on real documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.formats import Positions
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

# A field length byte (Whoosh stores lengths in one byte, logarithmically) as a length.
LENGTH_OF_BYTE = [byte_to_length(b) for b in range(256)]


@dataclass(frozen=True)
class ChainSettings:
    """What the tokenize | lowercase | stop | stem chain does, read off its filters."""

    pattern: re.Pattern[str]
    stops: frozenset[str]
    minsize: int
    maxsize: int | None
    stem: Callable[[str], str]
    ignore: frozenset[str]


def chain_settings(analyzer: Any) -> ChainSettings | None:
    """The chain's settings when the analyzer is exactly RegexTokenizer (matches, not gaps) |
    LowercaseFilter | StopFilter (renumbering) | StemFilter; None for any other analyzer."""
    items = getattr(analyzer, "items", None)
    if not items or len(items) != 4:
        return None
    tokenizer, lower, stop, stem = items
    if (
        type(tokenizer) is not RegexTokenizer
        or tokenizer.gaps
        or type(lower) is not LowercaseFilter
        or type(stop) is not StopFilter
        or not stop.renumber
        or type(stem) is not StemFilter
    ):
        return None
    return ChainSettings(
        tokenizer.expression,
        frozenset(stop.stops),
        stop.min,
        stop.max,
        stem.stemfn,
        frozenset(stem.ignore),
    )


def positions_items(
    chain: ChainSettings, fmt: Positions, value: str, stems: dict[str, str]
) -> list[tuple[bytes, int, float, bytes]]:
    """(term bytes, frequency, weight, encoded positions) per distinct stem of value, as
    `field.index(value)` gives them for a Positions field analyzed by chain."""
    stops, minsize, maxsize = chain.stops, chain.minsize, chain.maxsize
    stem, ignore = chain.stem, chain.ignore
    poses: dict[str, list[int]] = {}
    pos = -1
    first = True
    for index, match in enumerate(chain.pattern.finditer(value)):
        text = match.group().lower()
        size = len(text)
        if size < minsize or (maxsize is not None and size > maxsize) or text in stops:
            continue
        # StopFilter's renumbering: the first kept token keeps its place, the rest follow it.
        if first:
            pos, first = index, False
        else:
            pos += 1
        word = stems.get(text)
        if word is None:
            word = stems[text] = text if text in ignore else stem(text)
        found = poses.get(word)
        if found is None:
            poses[word] = [pos]
        else:
            found.append(pos)
    boost = fmt.field_boost
    encode = fmt.encode
    return [
        (word.encode("utf-8"), len(at), float(len(at)) * boost, encode(at))
        for word, at in poses.items()
    ]


class PreloadedLengths:
    """A new segment's field lengths, each column read once, answering as its reader does."""

    def __init__(self, reader: Any, schema: Any) -> None:
        self._tables: dict[str, list[int | None]] = {}
        for name in schema.scorable_names():
            column = _lenfield(name)
            if reader.has_column(column):
                lengths = reader.column_reader(column, LENGTHS_COLUMN)
                self._tables[name] = [LENGTH_OF_BYTE[b] if b else None for b in lengths]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        """The field's length in the document (None for zero), default when never stored."""
        table = self._tables.get(fieldname)
        return default if table is None else table[docnum]


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter, analysing our text fields in one loop and reading lengths once."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self._chains: dict[str, ChainSettings] = {}
        for name, field in self.schema.items():
            chain = chain_settings(getattr(field, "analyzer", None))
            if chain is not None and type(field.format) is Positions and field.indexed:
                self._chains[name] = chain
        # Stems of the words this writer has seen (Whoosh's StemFilter caches them per filter).
        self._stems: dict[str, str] = {}
        # Spelling and term-vector fields (our schema has none) are left to Whoosh's own code.
        self._plain = any(
            field.separate_spelling() or field.vector for _, field in self.schema.items()
        )

    def add_document(self, **fields: Any) -> None:
        """Whoosh's add_document, with our text fields analysed by positions_items."""
        if self._plain:
            super().add_document(**fields)
            return
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        add_post = self.pool.add
        chains, stems = self._chains, self._stems

        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        self._check_fields(schema, fieldnames)

        perdocwriter.start_doc(docnum)
        for fieldname in fieldnames:
            value = fields.get(fieldname)
            if value is None:
                continue
            field = schema[fieldname]

            length = 0
            if field.indexed:
                fieldboost = self._field_boost(fields, fieldname, docboost)
                chain = chains.get(fieldname)
                if chain is not None and isinstance(value, str):
                    items: Any = positions_items(chain, field.format, value, stems)
                else:
                    items = field.index(value)
                scorable = field.scorable
                for tbytes, freq, weight, vbytes in items:
                    weight *= fieldboost
                    if scorable:
                        length += freq
                    add_post((fieldname, tbytes, docnum, weight, vbytes))

            customval = fields.get(f"_stored_{fieldname}", value)
            perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)

            column = field.column_type
            if column and customval is not None:
                perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))

        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        # Whoosh's _flush_segment, with the per-document reader's lengths preloaded.
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        lengths = PreloadedLengths(pdr, self.schema) if pdr is not None else None
        self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
        self.fieldwriter.close()
        if pdr is not None:
            pdr.close()
