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

- **The posting pool.** Every posting goes into Whoosh's `PostingPool` as a tuple, with two
  asserts and a size estimate; at commit the pool sorts them all (spilling sorted runs to disk
  and merging them in Python past its budget), and `W3PostingsWriter` takes them one call at a
  time (four asserts each), pickling and compressing a block per term. A writer's documents
  arrive in docnum order, so `TermPostings` keeps each term's postings in the order they came,
  and `write_term` writes a whole term's blocks at once: the same pickles, the same zlib level,
  the same term info. Terms are sorted once at the end; nothing is spilled.

- **Per term at commit** (ninth session): the term dictionary's entries are framed and
  written in one call per field (`add_terms`; Whoosh's `HashWriter.add` makes three file calls
  and two `tell`s per term) and its hash tables in one call per bucket (`write_hash_tables`, a
  call per slot in Whoosh); postings blocks are gathered and written a thousand pieces at a
  time; blocks too small for zlib to shrink are stored as they are (`COMPRESS_MIN_BYTES`).
- **Per token** (ninth session): a token's term, or None for a token the chain drops, is one
  dict look-up (`StemCache`); the terms of a value are counted and their first places found by
  `Counter` and `dict(zip(...))` in C, positions pickled once per place for words met once.
- **Deflate** (twelfth session): postings blocks and stored fields are compressed by ISA-L
  (python-isal) instead of zlib at level 3 (`DEFLATE`): zlib's format, read by Whoosh's
  `zlib.decompress` as before, at a third of the CPU.

All give the segment Whoosh writes, byte for byte once every block is compressed as Whoosh
compresses them (every block, by zlib at the codec's level): tests/test_writing.py compares
every posting, length and stored field of an index written by each, on real documents, and the
bytes of every segment file; with small blocks left uncompressed, or compressed by ISA-L, what
Whoosh reads back (every term's statistics, postings and stored fields) is the same.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from hashlib import md5
from itertools import starmap
from operator import is_not
from pickle import dumps
from typing import Any, cast

from whoosh.analysis import IDTokenizer, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.analysis.tokenizers import default_pattern
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3TermInfo,
    _lenfield,
)
from whoosh.columns import CompressedBytesColumn
from whoosh.filedb.filetables import HashWriter, OrderedHashWriter, _lengths, _pointer, md5_hash
from whoosh.formats import Existence, Positions
from whoosh.system import _INT_SIZE, pack_int, pack_long, pack_uint, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

_ONE: bytes = pack_uint(1)
# Token patterns that match the same spans in a text and in its lowercase (Whoosh's default),
# each with the pattern that matches the same spans without capturing groups: its findall
# gives the tokens themselves.
CASE_BLIND_PATTERNS = {
    default_pattern.pattern: re.compile(r"\w+(?:\.?\w+)*", default_pattern.flags),
}
# A token the chain keeps (StemCache gives None for the others).
_KEPT = partial(is_not, None)
# Frequencies as floats, shared (pickles of floats are never memoised: sharing changes no byte).
_COUNTS = [float(n) for n in range(64)]
# W3TermInfo's fixed part: flags, total weight, doc freq, min and max length bytes, max weight,
# first and last docnum.
TERM_INFO = W3TermInfo._struct
# A field length byte (Whoosh stores lengths in one byte, logarithmically) as a length.
LENGTH_OF_BYTE = [byte_to_length(b) for b in range(256)]

# What one posting held by TermPostings costs in memory: three list slots (24 bytes, plus the
# list's spare room), its own positions bytes (~45) and, rarely, its own weight float (weights
# of unboosted fields are shared floats; the docnum int is shared by a document's postings).
# Measured (sys.getsizeof over everything held, shared objects once) after 5,763 Reuters
# passages: 37.3 MB for 469,540 postings and 41,175 terms, 79.5 bytes a posting all in; these
# two constants estimate it at 36.6 MB. Past the writer's budget (limitmb) the postings go to
# Whoosh's pool, which spills sorted runs to disk: memory stays bounded for any segment.
BYTES_PER_POSTING = 64
# A term's own cost: its bytes key, its list's header and the dict slot.
BYTES_PER_TERM = 160
# Values of ID, keyword and numeric fields indexed per field (country codes, topics, dates and
# ordinals repeat across passages): enough for every code and most dates; unique values (IDs,
# sequence numbers) stop being added once it is full.
INDEXED_VALUES_CACHED = 4096
# A term's postings blocks are gathered and written to the postings file this many pieces at a
# time (two per block): one file call per few hundred terms instead of two per block, and at
# most a few hundred kilobytes held (a block is at most 128 postings).
WRITES_JOINED = 1024
# A postings block is compressed only when its pickle has at least this many bytes. Whoosh
# compresses every block, but below this zlib's header and checksum outweigh what it saves, and
# each call sets up a fresh compressor (~15 us): of a 5,763-passage segment's 43,074 blocks,
# the 25,618 under 80 bytes (a rare word's posting or two, an ID's one) were 0.97 MB as pickles
# and 1.10 MB compressed; from 80 bytes on, zlib saves 5-25 %. A block's header records its
# compression, and Whoosh's reader reads either.
COMPRESS_MIN_BYTES = 80
# ISA-L's deflate level for postings blocks and stored fields. Measured on the compressor's real
# inputs from 10,000 Reuters passages (24,751 postings blocks, 31.8 MB; 10,000 stored-field
# pickles, 19.2 MB): zlib at Whoosh's level 3 took 0.81 + 0.43 s and gave 10.72 + 8.99 MB;
# ISA-L level 1 0.30 + 0.16 s for 11.58 + 9.04 MB (postings 8 % bigger, stored fields 0.5 %);
# its level 2 gave the same sizes in about the same time, level 3 postings 1 % smaller in 15 %
# more; zlib-ng's level 1 was faster
# still (0.22 + 0.13 s) but 27 % bigger. Level 0 in ISA-L means "fastest", not "stored": never 0.
ISAL_LEVEL = 1


@dataclass(frozen=True)
class Deflate:
    """A compressor writing zlib's format (what Whoosh's reader inflates) and its level."""

    compress: Callable[[bytes, int], bytes]
    level: int


def isal_deflate() -> Deflate | None:
    """ISA-L's compressor when python-isal is installed (a pinned dependency; a platform
    without its wheel falls back to Whoosh's zlib), else None."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return Deflate(isal_zlib.compress, ISAL_LEVEL)


# The compressor of postings blocks and stored fields; None: Whoosh's (zlib, the codec's level).
# Postings a writer hands to Whoosh's pool (past its budget, or in a merge) are written by
# Whoosh's postings writer, with zlib: readable the same, only slower to write.
DEFLATE: Deflate | None = isal_deflate()

# Whoosh's own structs for the term dictionary's framing of a key and value (their lengths) and
# for a hash table's slot (a key's hash, where the key is): the bytes stay its format.
_KEY_VALUE_LENGTHS, _HASH_SLOT = _lengths, _pointer


@dataclass(frozen=True)
class ChainSettings:
    """What the tokenize | lowercase | stop | stem chain does, read off its filters."""

    pattern: re.Pattern[str]
    stops: frozenset[str]
    minsize: int
    maxsize: int | None
    stem: Callable[[str], str]
    ignore: frozenset[str]
    # For a pattern that matches the same spans whatever the letters' case (Whoosh's default),
    # the same pattern without capturing groups; None for any other pattern.
    whole_matches: re.Pattern[str] | None = None

    @property
    def case_blind(self) -> bool:
        """Whether the pattern matches the same spans whatever the letters' case."""
        return self.whole_matches is not None


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
        CASE_BLIND_PATTERNS.get(tokenizer.expression.pattern),
    )


class PositionPickles(dict[int, bytes]):
    """The pickle of a one-element positions list, made once per position: most words occur
    once in a passage, and their positions need no pickling per posting."""

    def __missing__(self, at: int) -> bytes:
        pickled = self[at] = dumps([at], 2)
        return pickled


_POSITION_PICKLES = PositionPickles()


class StemCache(dict[str, bytes | None]):
    """A chain's term (its stem, UTF-8 encoded) for each lowercased token seen so far, None for
    a token the chain drops (a stop word, too short or too long); each is worked out on first
    sight, then found by a dict look-up in C."""

    def __init__(self, chain: ChainSettings) -> None:
        super().__init__()
        self._chain = chain

    def __missing__(self, word: str) -> bytes | None:
        chain = self._chain
        size = len(word)
        term: bytes | None = None
        if (
            size >= chain.minsize
            and (chain.maxsize is None or size <= chain.maxsize)
            and word not in chain.stops
        ):
            term = (word if word in chain.ignore else chain.stem(word)).encode("utf-8")
        self[word] = term
        return term


def positions_items(
    chain: ChainSettings, fmt: Positions, value: str, stems: StemCache | None = None
) -> list[tuple[bytes, int, float, bytes]]:
    """(term bytes, frequency, weight, encoded positions) per distinct stem of value, as
    `field.index(value)` gives them for a Positions field analyzed by chain."""
    if stems is None:
        stems = StemCache(chain)
    if chain.whole_matches is not None and value.isascii():
        # ASCII case changes no token boundary of a case-blind pattern: lowercase once.
        tokens = chain.whole_matches.findall(value.lower())
    else:
        tokens = [match.group().lower() for match in chain.pattern.finditer(value)]
    # Token by token in C: the term or None, then the kept terms, their counts and where each
    # first occurs (zip over the reversed terms: the first occurrence is written last).
    mapped = list(map(stems.__getitem__, tokens))
    terms = cast(list[bytes], list(filter(_KEPT, mapped)))
    if not terms:
        return []
    # StopFilter's renumbering: the first kept token keeps its place, the rest follow it.
    first = mapped.index(terms[0])
    counts = Counter(terms)
    firsts = dict(zip(reversed(terms), range(first + len(terms) - 1, first - 1, -1), strict=True))
    boost = fmt.field_boost
    # With no boost, one shared float per frequency: a segment holds millions of weights.
    shared = _COUNTS if boost == 1.0 else ()
    once = shared[1] if shared else 1.0 * boost
    pickles = _POSITION_PICKLES
    # Positions.encode: the count, then the pickled deltas (the first from 0: itself). Most
    # terms occur once: theirs are made in one comprehension, each a new bytes object (a
    # block's pickle would share a repeated one).
    items = [
        (term, 1, once, _ONE + pickles[firsts[term]])
        for term, count in counts.items()
        if count == 1
    ]
    if len(items) < len(counts):
        for term, count in counts.items():
            if count == 1:
                continue
            at = firsts[term] - first
            deltas = [at + first]
            for _ in range(1, count):
                after = terms.index(term, at + 1)
                deltas.append(after - at)
                at = after
            weight = shared[count] if count < len(shared) else float(count) * boost
            items.append((term, count, weight, pack_uint(count) + dumps(deltas, 2)))
    return items


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

    def table(self, fieldname: str) -> list[int | None] | None:
        """The field's lengths by docnum (None for zero), or None when it has no lengths."""
        return self._tables.get(fieldname)


class TermPostings:
    """A segment's postings in memory, per field and term, in the order documents were added.

    Each term holds one flat list: docnum, weight, value, docnum, weight, value, ... A writer
    numbers its documents in order, so each list is already sorted by docnum.
    """

    def __init__(self) -> None:
        self.fields: dict[str, dict[bytes, list[Any]]] = {}
        self.postings = 0
        self.terms = 0

    def held_bytes(self) -> int:
        """An estimate of the memory the postings take."""
        return self.postings * BYTES_PER_POSTING + self.terms * BYTES_PER_TERM

    def items(self) -> Any:
        """(fieldname, term bytes, docnum, weight, value) in the pool's sorted order."""
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for btext in sorted(terms):
                flat = terms[btext]
                for i in range(0, len(flat), 3):
                    yield fieldname, btext, flat[i], flat[i + 1], flat[i + 2]


def write_term(
    write: Callable[[bytes], Any],
    offset: int,
    flat: list[Any],
    lengths: list[int | None] | None,
    fixed_size: int | None,
    block_limit: int,
    compression: int,
    compress: Callable[[bytes, int], bytes] = zlib.compress,
) -> tuple[bytes, int]:
    """Write one term's postings (TermPostings' flat list) at offset of the postings file as
    W3PostingsWriter writes them, block by block; return the term's W3TermInfo bytes and the
    offset after it."""
    start = offset
    write(WHOOSH3_HEADER_MAGIC)
    offset += len(WHOOSH3_HEADER_MAGIC)
    count = len(flat) // 3
    total_weight: float = 0
    min_length_all: int | None = None
    max_length_all = 0
    max_weight_all: float = 0
    for first in range(0, count, block_limit):
        end = min(first + block_limit, count)
        ids = flat[3 * first : 3 * end : 3]
        raw_weights = flat[3 * first + 1 : 3 * end : 3]
        raw_values = flat[3 * first + 2 : 3 * end : 3]
        # The block stores weights as 4-byte floats; its maximum is taken before rounding.
        weights = array("f", raw_weights)
        top = max(raw_weights)
        max_weight = top if top > 0 else 0
        min_length: int | None = None
        max_length = 0
        if lengths is not None:
            present = [length for length in map(lengths.__getitem__, ids) if length]
            if present:
                min_length, max_length = min(present), max(present)

        if len(ids) == 1:
            deltas: Any = (ids[0],)
        else:
            deltas = (ids[0], *map(int.__sub__, ids[1:], ids))
        first_weight = weights[0]
        if first_weight == 1.0 and weights.count(first_weight) == len(weights):
            mini_weights: Any = None
        elif weights.count(first_weight) == len(weights):
            mini_weights = first_weight
        else:
            mini_weights = tuple(weights)
        if fixed_size is None or fixed_size < 0:
            mini_values: Any = tuple([v for v in raw_values if v])
        elif fixed_size == 0:
            mini_values = None
        else:
            mini_values = b"".join([v for v in raw_values if v])
        data = dumps((deltas, mini_weights, mini_values), 2)
        level = compression if len(data) >= COMPRESS_MIN_BYTES else 0
        if level:
            data = compress(data, level)
        header = dumps(
            (
                len(ids),
                ids[-1],
                max_weight,
                level,
                length_to_byte(min_length),
                length_to_byte(max_length),
            ),
            2,
        )
        size = len(header) + len(data)
        write(pack_int(-size if end == count else size) + header + data)
        offset += _INT_SIZE + size

        # W3TermInfo.add_block, with this block's statistics.
        total_weight += sum(weights)
        if min_length_all is None:
            min_length_all = min_length
        elif min_length is not None:
            min_length_all = min(min_length_all, min_length)
        max_length_all = max(max_length_all, max_length)
        max_weight_all = max(max_weight_all, max_weight)
    # W3TermInfo.to_bytes for postings written to the file (never inlined here).
    info = TERM_INFO.pack(
        False,
        total_weight,
        count,
        0 if min_length_all is None else length_to_byte(min_length_all),
        length_to_byte(max_length_all),
        max_weight_all,
        flat[0],
        flat[-3],
    )
    return info + pack_long(start) + pack_int(offset - start), offset


def write_postings(
    fieldwriter: W3FieldWriter, schema: Any, lengths: PreloadedLengths | None, held: TermPostings
) -> None:
    """Write every held posting through fieldwriter's files, field by field, term by term."""
    postfile = fieldwriter._postfile
    for fieldname in sorted(held.fields):
        terms = held.fields[fieldname]
        field = schema[fieldname]
        fieldwriter.start_field(fieldname, field)
        postwriter = fieldwriter._postwriter
        block_limit, compression = postwriter._blocklimit, postwriter._compression
        compress: Callable[[bytes, int], bytes] = zlib.compress
        if DEFLATE is not None and compression:
            compress, compression = DEFLATE.compress, DEFLATE.level
        fixed_size = field.format.fixed_value_size()
        table = lengths.table(fieldname) if lengths is not None else None
        prefix = pack_ushort(fieldwriter._fieldid)
        offset = postfile.tell()
        pending: list[bytes] = []
        keys: list[bytes] = []
        infos: list[bytes] = []
        for btext in sorted(terms):
            info, offset = write_term(
                pending.append,
                offset,
                terms[btext],
                table,
                fixed_size,
                block_limit,
                compression,
                compress,
            )
            keys.append(prefix + btext)
            infos.append(info)
            if len(pending) >= WRITES_JOINED:
                postfile.write(b"".join(pending))
                pending.clear()
        postfile.write(b"".join(pending))
        add_terms(fieldwriter._tindex, keys, infos)
        fieldwriter.finish_field()


def add_terms(tindex: OrderedHashWriter, keys: list[bytes], values: list[bytes]) -> None:
    """`tindex.add(key, value)` for each pair, keys in increasing order, in one write: the
    same bytes, hash buckets and key index, without a file call and a `tell` per term."""
    if not keys:
        return
    if keys[0] <= tindex.lastkey:
        raise ValueError(f"Keys must increase: {tindex.lastkey!r}..{keys[0]!r}")
    hashfn = _md5_low32 if tindex.hashfn is md5_hash else tindex.hashfn
    buckets, index = tindex.buckets, tindex.index
    position = tindex.dbfile.tell()
    parts: list[bytes] = []
    for key, value in zip(keys, values, strict=True):
        index.append(position)
        parts += (_KEY_VALUE_LENGTHS.pack(len(key), len(value)), key, value)
        hashed = hashfn(key)
        buckets[hashed & 255].append((hashed, position))
        position += _KEY_VALUE_LENGTHS.size + len(key) + len(value)
    tindex.dbfile.write(b"".join(parts))
    tindex.lastkey = keys[-1]


def write_hash_tables(tindex: HashWriter) -> None:
    """HashWriter._write_hashes (a hash table per bucket, collisions probed to the next slot,
    the same slots), each table written in one call rather than a call per slot."""
    dbfile = tindex.dbfile
    empty = (0, 0)
    for entries in tindex.buckets:
        numslots = 2 * len(entries)
        tindex.directory.append((dbfile.tell(), numslots))
        table = [empty] * numslots
        for hashed, position in entries:
            slot = (hashed >> 8) % numslots
            while table[slot] != empty:
                slot = (slot + 1) % numslots
            table[slot] = (hashed, position)
        dbfile.write(b"".join(starmap(_HASH_SLOT.pack, table)))


def _md5_low32(key: bytes) -> int:
    """Whoosh's md5_hash (the digest's low 32 bits), without its hex round trip."""
    return int.from_bytes(md5(key).digest()[12:], "big")


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter, analysing our text fields in one loop, holding postings per term
    instead of in a sorting pool, and reading lengths once."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self._chains: dict[str, ChainSettings] = {}
        for name, field in self.schema.items():
            chain = chain_settings(getattr(field, "analyzer", None))
            if chain is not None and type(field.format) is Positions and field.indexed:
                self._chains[name] = chain
        self._field_of: dict[str, Any] = dict(self.schema.items())
        # Stems of the words this writer has seen, per chain (Whoosh's StemFilter caches them).
        self._stems = {chain: StemCache(chain) for chain in set(self._chains.values())}
        # Spelling and term-vector fields (our schema has none) are left to Whoosh's own code.
        self._plain = any(
            field.separate_spelling() or field.vector for _, field in self.schema.items()
        )
        # What field.index gives for repeated values of fields whose values are fixed-size
        # (joined or dropped in a block, never pickled one by one: sharing them changes no byte).
        self._indexed: dict[str, dict[Hashable, list[Any]]] = {
            name: {}
            for name, field in self.schema.items()
            if field.indexed and name not in self._chains and _fixed_size(field)
        }
        # ID fields: the whole value is the one term.
        self._whole_values = {
            name
            for name, field in self.schema.items()
            if field.indexed
            and type(getattr(field, "analyzer", None)) is IDTokenizer
            and type(field.format) is Existence
        }
        # Postings held per term while the codec is the one write_term writes for (Whoosh 3's
        # with no inlining); None once they have gone to Whoosh's pool.
        self._held: TermPostings | None = TermPostings() if _direct_codec(self.codec) else None
        self._budget = self.pool.limit
        if DEFLATE is not None:
            _deflate_stored_fields(self.perdocwriter, DEFLATE)

    def add_document(self, **fields: Any) -> None:
        """Whoosh's add_document, with our text fields analysed by positions_items."""
        if self._plain:
            super().add_document(**fields)
            return
        self._check_state()
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        add_post = self.pool.add
        chains, stems, indexed = self._chains, self._stems, self._indexed
        field_of = self._field_of
        held = self._held
        added = 0

        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        # Boosts and stored-value overrides come as "_"-keys; most documents have no boost.
        specials = len(fieldnames) != len(fields)
        boosts = specials and any(name.endswith("_boost") for name in fields)
        docboost = self._doc_boost(fields) if boosts else 1.0
        if not all(map(field_of.__contains__, fieldnames)):
            self._check_fields(self.schema, fieldnames)

        perdocwriter.start_doc(docnum)
        for fieldname in fieldnames:
            value = fields.get(fieldname)
            if value is None:
                continue
            field = field_of.get(fieldname) or self.schema[fieldname]

            length = 0
            if field.indexed:
                fieldboost = self._field_boost(fields, fieldname, docboost) if boosts else 1.0
                chain = chains.get(fieldname)
                if chain is not None and isinstance(value, str):
                    items: Any = positions_items(chain, field.format, value, stems[chain])
                else:
                    items = self._index_value(fieldname, field, value, indexed.get(fieldname))
                scorable = field.scorable
                if held is None:
                    for tbytes, freq, weight, vbytes in items:
                        weight *= fieldboost
                        if scorable:
                            length += freq
                        add_post((fieldname, tbytes, docnum, weight, vbytes))
                else:
                    terms = held.fields.get(fieldname)
                    if terms is None:
                        terms = held.fields[fieldname] = {}
                    before = len(terms)
                    boosted = fieldboost != 1.0
                    for tbytes, freq, weight, vbytes in items:
                        if scorable:
                            length += freq
                        if boosted:
                            weight *= fieldboost
                        flat = terms.get(tbytes)
                        if flat is None:
                            terms[tbytes] = [docnum, weight, vbytes]
                        else:
                            flat += (docnum, weight, vbytes)
                    added += len(items)
                    held.terms += len(terms) - before

            customval = fields.get(f"_stored_{fieldname}", value) if specials else value
            perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)

            column = field.column_type
            if column and customval is not None:
                perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))

        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1
        if held is not None:
            held.postings += added
            if held.held_bytes() > self._budget:
                self._to_pool()

    def _index_value(
        self, fieldname: str, field: Any, value: Any, cache: dict[Hashable, list[Any]] | None
    ) -> list[Any]:
        """field.index(value) as a list, from the field's cache when the value repeats."""
        if isinstance(value, str) and fieldname in self._whole_values:
            # IDTokenizer's one token, Existence's one posting: field.index without the chain.
            return [(value.encode("utf-8"), 1, field.format.field_boost, b"")]
        if cache is None or type(value) not in (str, int):  # not bool: True == 1
            return list(field.index(value))
        items = cache.get(value)
        if items is None:
            items = list(field.index(value))
            if len(cache) < INDEXED_VALUES_CACHED:
                cache[value] = items
        return items

    def _to_pool(self) -> None:
        """Hand the held postings to Whoosh's pool (which spills past its budget) for good."""
        held, self._held = self._held, None
        if held is not None:
            add_post = self.pool.add
            for item in held.items():
                add_post(item)

    def _flush_segment(self) -> None:
        # Whoosh's _flush_segment, with the per-document reader's lengths preloaded, and the
        # held postings written term by term when the pool has none (a merge adds postings of
        # other segments to the pool: then the pool sorts everything, as Whoosh does).
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        lengths = PreloadedLengths(pdr, self.schema) if pdr is not None else None
        if self._held is not None and (self.pool.current or self.pool.runs):
            self._to_pool()
        if self._held is not None:
            write_postings(self.fieldwriter, self.schema, lengths, self._held)
            self._held = TermPostings()
        else:
            self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
        tindex = self.fieldwriter._tindex
        if type(tindex) is OrderedHashWriter:
            tindex._write_hashes = partial(write_hash_tables, tindex)
        self.fieldwriter.close()
        if pdr is not None:
            pdr.close()


def _deflate_stored_fields(perdocwriter: Any, deflate: Deflate) -> None:
    """Have Whoosh 3's stored-fields column (pickles, each compressed: `STORED_COLUMN`) compress
    with deflate; any other per-document writer is left as it is."""
    stored = getattr(perdocwriter, "_colwriters", {}).get("_stored")
    child: Any = getattr(stored, "_child", None)
    if type(child) is CompressedBytesColumn.Writer:
        child._compress, child._level = deflate.compress, deflate.level


def _fixed_size(field: Any) -> bool:
    """Whether the field's posting values have a fixed size (joined in a block, not pickled)."""
    size = field.format.fixed_value_size()
    return size is not None and size >= 0


def _direct_codec(codec: Any) -> bool:
    """Whether write_term writes what this codec's postings writer would (Whoosh 3's codec,
    postings never inlined in the term info)."""
    return type(codec) is W3Codec and codec._inlinelimit <= 1
