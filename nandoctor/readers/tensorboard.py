"""TensorBoard event files -> series: mmap, numpy decoding of plain scalars, an exact wire walker for the rest.

An event file is a TFRecord stream: per record a little-endian uint64 length, its masked CRC32C, the
serialized `Event` protobuf, and the payload's masked CRC32C. Almost every record of a long run is one
plain scalar in the same byte layout, so those are decoded in bulk with numpy; every other record
(metadata, several values, TF2 tensor scalars, session logs, histograms ...) goes through a small
protobuf wire walker that follows protobuf's own rules (last field wins, oneof, merged messages).
Neither tensorboard nor protobuf is imported: they would cost more than reading a typical file.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model import RunEvent, Series
from . import ReadError, RunPart

FORMAT = "tensorboard"

HEADER_BYTES = 12  # uint64 length + masked CRC32C of the length
FOOTER_BYTES = 4  # masked CRC32C of the payload
RECORD_OVERHEAD = HEADER_BYTES + FOOTER_BYTES
CHUNK_RECORDS = 65536  # numpy temporaries of this size stay cheap; one huge chunk pays page faults
FIRST_CHUNK_RECORDS = 1024
MIN_BULK_RECORDS = 16  # fewer records are walked: numpy's call overhead would cost more
MAX_RECORD_WARNINGS = 10  # per kind of damage; the rest are counted in one line

_FRAME_LENGTH = struct.Struct("<Q").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from
_MASK64 = (1 << 64) - 1
_CRC_MASK_DELTA = 0xA282EAD8

# Event fields (tensorboard/compat/proto/event.proto); 3..9 form the oneof `what`.
_EVENT_GRAPH_DEF, _EVENT_SUMMARY, _EVENT_SESSION_LOG, _EVENT_META_GRAPH_DEF = 4, 5, 7, 9
_EVENT_WHAT = frozenset({3, 4, 5, 6, 7, 8, 9})
_SESSION_START = 1
# Summary.Value fields; 2..6 and 8 form the oneof `value`.
_VALUE_SIMPLE, _VALUE_TENSOR = 2, 8
_VALUE_ONEOF = frozenset({2, 3, 4, 5, 6, 8})
# TensorProto dtypes that hold a number: DataType enum -> (numpy dtype, the *_val field that lists values).
_TENSOR_NUMBER_TYPES = {1: ("<f4", 5), 2: ("<f8", 6), 19: ("<f2", 13), 3: ("<i4", 7), 9: ("<i8", 10)}
_KERAS_GRAPH_MARK = b"keras_learning_phase"  # the placeholder every TF1 Keras graph has


# --------------------------------------------------------------------------------------------- sniff


def sniff(path, head: bytes) -> bool:
    """An event file by name, or a head that frames as a TFRecord whose first record is an Event."""
    if "tfevents" in Path(path).name:
        return True
    if len(head) < HEADER_BYTES or not _first_header_intact(head):
        return False
    (length,) = _FRAME_LENGTH(head, 0)
    end = HEADER_BYTES + length
    if end + FOOTER_BYTES > len(head):
        return True  # the length's own checksum holds; a 32-bit check is evidence enough
    crc = _crc32c_function()
    if crc is not None and _masked(crc(head[HEADER_BYTES:end])) != struct.unpack_from("<I", head, end)[0]:
        return False
    return _is_event(memoryview(head), HEADER_BYTES, end)


def _first_header_intact(data) -> bool:
    """Do the first record's 8 length bytes match their masked CRC32C? In plain Python: for one header
    numpy's set-up costs 20 times more, and sniffing asks this of every file of a sweep."""
    (stored,) = struct.unpack_from("<I", data, 8)
    return _masked(_crc32c_of_few_bytes(bytes(data[:8]))) == stored


def _is_event(buf, start: int, end: int) -> bool:
    try:
        event = _parse_event(buf, start, end)
    except _WireError:
        return False
    return event.known


# ---------------------------------------------------------------------------------------------- read


def read(path, *, verify_crc: bool = True) -> RunPart:
    """Every scalar in one event file, in file order, with what damage hid (never sampled).

    `verify_crc=False` skips the record checksums for speed; only the first record's length
    checksum is still checked, since it is what tells an event file from any other file.
    """
    return _read_file(Path(path), verify_crc=verify_crc)


def _read_file(path: Path, *, verify_crc: bool = True, chunk_records: int = CHUNK_RECORDS, bulk_decode: bool = True) -> RunPart:
    """`read`, with the knobs the tests use to check the bulk path against the walker."""
    part = RunPart(format=FORMAT)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise ReadError("empty file: nothing was written to it")
        if size < HEADER_BYTES:
            raise ReadError(f"not a TensorBoard event file, or cut off: {size} bytes, shorter than one record header")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        file = _MappedFile(mapped)
        try:
            points, state, damage = _read_mapped(file, part, verify_crc, chunk_records, bulk_decode)
        finally:
            file.release()
            del file
    finally:
        try:
            mapped.close()  # before assembling series: the mapped pages need not stay resident
        except BufferError:
            pass  # a view is still held by an exception in flight; the map closes when it is collected
    _finish(part, points, state, damage)
    return part


class _MappedFile:
    """The mapped file as bytes, and as the unaligned little-endian number starting at every byte."""

    def __init__(self, mapped: mmap.mmap) -> None:
        self.size = len(mapped)
        self.view = memoryview(mapped)  # for the walker and for CRC32C, without copies
        self.bytes = np.frombuffer(mapped, dtype=np.uint8)
        self.u32, self.u64, self.f32, self.f64 = (_number_at_every_byte(mapped, code) for code in ("<u4", "<u8", "<f4", "<f8"))

    def release(self) -> None:
        self.bytes = self.u32 = self.u64 = self.f32 = self.f64 = None
        self.view.release()


def _number_at_every_byte(mapped: mmap.mmap, code: str) -> np.ndarray:
    """`array[i]` is the number stored at byte i: one fancy index reads a field of many records."""
    width = np.dtype(code).itemsize
    return np.ndarray((max(len(mapped) - width + 1, 0),), dtype=code, buffer=mapped, strides=(1,))


def _read_mapped(file: _MappedFile, part: RunPart, verify_crc: bool, chunk_records: int, bulk_decode: bool) -> tuple:
    damage = _Damage()
    if not verify_crc and not _first_header_intact(file.view):
        raise ReadError(_NOT_AN_EVENT_FILE)  # unchecked, no later record can vouch for the file
    starts, lengths, intact = _checked_records(file, part, verify_crc, damage)
    if not intact.any():
        raise ReadError(f"cut off or damaged before its first complete record: nothing readable in its {file.size} bytes")
    _require_event_file(file, starts, lengths, intact)
    points, state = _Points(), _WalkState()
    readable = np.flatnonzero(intact)
    for chunk_start, chunk_end in _chunks(readable.size, chunk_records):
        records = readable[chunk_start:chunk_end]
        walk = _decode_in_bulk(file, records, starts[records], lengths[records], points, state.plugin_of_tag) if bulk_decode else records
        for index in walk.tolist():
            payload = int(starts[index]) + HEADER_BYTES
            _walk_record(file.view, index, payload, payload + int(lengths[index]), state, points, damage)
    return points, state, damage


def _checked_records(file: _MappedFile, part: RunPart, verify_crc: bool, damage: "_Damage") -> tuple[np.ndarray, ...]:
    """Start and payload length of every record framing can vouch for, and whether its payload is intact."""
    crc = _crc32c_function() if verify_crc else None
    if verify_crc and crc is None:
        part.warnings.append("crc32c is not installed: record checksums not verified (pip install crc32c)")
    starts, lengths = _resynced_records(file, verify_crc, crc, damage)
    if crc is None or not starts.size:
        return starts, lengths, np.ones(starts.size, dtype=bool)
    intact = _payloads_intact(file, starts, lengths, crc)
    for index in np.flatnonzero(~intact).tolist():
        damage.bad_payload(index, int(starts[index]))
    return starts, lengths, intact


def _resynced_records(file: _MappedFile, verify_crc: bool, crc, damage: "_Damage") -> tuple[np.ndarray, np.ndarray]:
    """Start and payload length of every record framing can vouch for, reading on past damaged lengths.

    A record whose length checksum fails cannot say where the next record starts (TensorBoard stops
    there). Intact records after it are found again by their own checksums: the next offset whose
    8 length bytes match their masked CRC32C, and whose payload matches its own, resumes framing.
    The damaged record itself is read too when its payload, up to the resumed record, is intact.
    """
    starts_parts: list[np.ndarray] = []
    lengths_parts: list[np.ndarray] = []
    position, count = 0, 0
    while True:
        starts, end_of_records = _frame(file, position)
        lengths = np.diff(starts, append=end_of_records) - RECORD_OVERHEAD  # records are contiguous
        trusted, bad_offset = _trusted_records(file, starts, end_of_records, verify_crc, damage, count)
        starts_parts.append(starts[:trusted])
        lengths_parts.append(lengths[:trusted])
        count += trusted
        if bad_offset is None:
            break
        resume = _resume_point(file, bad_offset, crc)
        if resume is None and bad_offset == 0:  # damage in the first length, or no event file at all
            raise ReadError(_NOT_AN_EVENT_FILE)
        if resume is None:
            damage.bad_header(count, bad_offset, f"no intact record follows: the last {file.size - bad_offset} bytes cannot be read")
            break
        if crc is not None and _payload_intact(file, bad_offset, resume, crc):
            damage.length_recovered(count, bad_offset)
            starts_parts.append(np.array([bad_offset], dtype=np.int64))
            lengths_parts.append(np.array([resume - bad_offset - RECORD_OVERHEAD], dtype=np.int64))
            count += 1
        else:
            damage.bad_header(count, bad_offset, f"{resume - bad_offset} bytes skipped, reading resumed at byte {resume}")
        position = resume
    return np.concatenate(starts_parts), np.concatenate(lengths_parts)


_NOT_AN_EVENT_FILE = "not a TensorBoard event file: its first record's length checksum does not match, nor does any later record's"
RESYNC_WINDOW = 1 << 20  # offsets tested at once when looking for the next intact record


def _resume_point(file: _MappedFile, after: int, crc) -> int | None:
    """The first offset after `after` where an intact record starts (length and, if crc, payload checksums)."""
    last = file.size - RECORD_OVERHEAD  # a record of an empty payload starting there would end the file
    start = after + 1
    while start <= last:
        offsets = np.arange(start, min(start + RESYNC_WINDOW, last + 1), dtype=np.int64)
        room = (file.size - RECORD_OVERHEAD - offsets).astype(np.uint64)
        lengths = file.u64[offsets]
        offsets = offsets[lengths <= room]  # most offsets fail here: their "length" runs past the file
        if offsets.size:
            offsets = offsets[_lengths_intact(file.u64[offsets], file.u32[offsets + 8])]
        for offset in offsets.tolist():
            end = offset + HEADER_BYTES + int(file.u64[offset]) + FOOTER_BYTES
            if crc is None or _payload_intact(file, offset, end, crc):
                return offset
        start += RESYNC_WINDOW
    return None


def _payload_intact(file: _MappedFile, start: int, end: int, crc) -> bool:
    """Does the record framed as [start, end) hold a payload matching its trailing masked CRC32C?"""
    if end - start < RECORD_OVERHEAD:
        return False
    return _masked(crc(file.view[start + HEADER_BYTES : end - FOOTER_BYTES])) == int(file.u32[end - FOOTER_BYTES])


def _chunks(count: int, largest: int):
    """(start, end) of chunks growing to `largest`: the walker meets each tag's metadata (its first
    records) in a small chunk, so the bulk path knows the tag's plugin for the big ones."""
    start, size = 0, min(FIRST_CHUNK_RECORDS, largest)
    while start < count:
        yield start, min(start + size, count)
        start, size = start + size, min(4 * size, largest)


def _require_event_file(file: _MappedFile, starts: np.ndarray, lengths: np.ndarray, good: np.ndarray) -> None:
    """A TFRecord file of something other than events (a dataset, say) is not ours to read."""
    intact = np.flatnonzero(good)
    if not intact.size:
        return
    first = int(intact[0])
    payload = int(starts[first]) + HEADER_BYTES
    if not _is_event(file.view, payload, payload + int(lengths[first])):
        raise ReadError("not a TensorBoard event file: a TFRecord file whose records are not Events")


# ------------------------------------------------------------------------------------------- framing


PROBE_RECORDS = 128  # records framed one at a time before guessing that their sizes repeat
MAX_PROBE_RECORDS = 8192  # where sizes keep changing (histograms), guesses get rarer, down to this
MAX_PERIOD = 64  # longest cycle of record sizes guessed: a run logging 64 scalars per step
GUESS_BYTES = 64 * 1024  # span of a first guess
MAX_GUESS_RECORDS = 65536


def _frame(file: _MappedFile, position: int = 0) -> tuple[np.ndarray, int]:
    """The start offset of every complete record, and where the complete records end.

    Only lengths are followed here; checksums are verified afterwards in bulk, and framing found
    untrustworthy there is cut back. A long run logs the same tags every step, so record sizes
    repeat in a short cycle: after a probe framed one record at a time, the next records are
    guessed from that cycle and every guess is checked in numpy against the length stored at
    its start. A guess is kept only where its stored length is the guessed one, so the result is
    exactly what the one-at-a-time loop gives, for a fraction of the Python work.
    """
    pieces: list = []
    probe_records = PROBE_RECORDS
    while True:
        probe, position, complete = _frame_loop(file.view, file.size, position, probe_records)
        pieces.append(np.asarray(probe, dtype=np.int64))  # not a list of Python ints: 8 bytes a record, not 36
        if complete:
            break
        cycle = _size_cycle(probe[-PROBE_RECORDS:], position)
        sustained = False
        if cycle is not None:
            guessed, position, sustained = _frame_by_cycle(file, position, cycle)
            pieces.extend(guessed)
        probe_records = PROBE_RECORDS if sustained else min(2 * probe_records, MAX_PROBE_RECORDS)
    return np.concatenate([np.asarray(piece, dtype=np.int64) for piece in pieces]), position


def _frame_loop(view, size: int, position: int, limit: int = -1) -> tuple[list[int], int, bool]:
    """Follow lengths one record at a time: up to `limit` records, or to the end (then complete)."""
    starts: list[int] = []
    append = starts.append
    unpack = _FRAME_LENGTH
    last_header = size - HEADER_BYTES
    remaining = limit
    while position <= last_header and remaining:
        end = position + unpack(view, position)[0] + RECORD_OVERHEAD
        if end > size:
            break
        append(position)
        position = end
        remaining -= 1
    return starts, position, remaining != 0


def _size_cycle(starts: list[int], end: int) -> np.ndarray | None:
    """The shortest cycle the records' sizes repeat in, phased to continue after the last one."""
    sizes = [following - start for start, following in zip(starts, starts[1:] + [end])]
    for period in range(1, min(MAX_PERIOD, len(sizes) // 2) + 1):
        if sizes[period:] == sizes[:-period]:
            return np.array(sizes[-period:], dtype=np.int64)
    return None


def _frame_by_cycle(file: _MappedFile, position: int, cycle: np.ndarray) -> tuple[list[np.ndarray], int, bool]:
    """Guess record starts from the cycle in growing blocks; keep each block's verified prefix.

    A first block spans about GUESS_BYTES, so a wrong guess about big records (histograms)
    touches few pages that framing would never read. Also says whether the guessing outlasted
    its first block, that is, whether it was worth its numpy calls.
    """
    pieces: list[np.ndarray] = []
    block = max(8, GUESS_BYTES * cycle.size // int(cycle.sum()))
    first_block = True
    while True:
        sizes = np.resize(cycle, block)
        ends = position + np.cumsum(sizes)
        if ends[-1] > file.size:
            block = int(np.searchsorted(ends, file.size, side="right"))
            sizes, ends = sizes[:block], ends[:block]
        starts = ends - sizes
        confirmed = file.u64[starts] == (sizes - RECORD_OVERHEAD).astype(np.uint64)
        accepted = block if confirmed.all() else int(np.argmin(confirmed))
        if accepted:
            pieces.append(starts[:accepted])
            position = int(ends[accepted - 1])
            phase = accepted % cycle.size
            cycle = np.concatenate([cycle[phase:], cycle[:phase]])
        if accepted < block or not block:
            return pieces, position, not first_block
        block = min(block * 4, MAX_GUESS_RECORDS)
        first_block = False


def _trusted_records(file: _MappedFile, starts: np.ndarray, end_of_records: int, verify_crc: bool, damage: "_Damage", first_record: int = 0) -> tuple[int, int | None]:
    """How many records framing can vouch for (up to the first whose length checksum fails), and the
    offset of that damaged length (None when there is none: the records run to the end or to a cut)."""
    if verify_crc and starts.size:
        for chunk in range(0, starts.size, CHUNK_RECORDS):
            chunk_starts = starts[chunk : chunk + CHUNK_RECORDS]
            intact = _lengths_intact(file.u64[chunk_starts], file.u32[chunk_starts + 8])
            if not intact.all():
                first_bad = chunk + int(np.argmin(intact))
                return first_bad, int(starts[first_bad])
    if end_of_records < file.size:
        whole_header = end_of_records + HEADER_BYTES <= file.size
        if verify_crc and whole_header and not _first_header_intact(file.view[end_of_records:]):
            return starts.size, end_of_records
        damage.truncated(first_record + starts.size, end_of_records, file.size)
    return starts.size, None


# ----------------------------------------------------------------------------------------- checksums


def _crc32c_function():
    """The C CRC32C, or None: a pure-Python one runs at 6 MB/s, slower than not checking at all."""
    package = sys.modules.get("crc32c", _NOT_IMPORTED)
    if package is None:  # imports of it are blocked
        return None
    if package is not _NOT_IMPORTED:
        return package.crc32c
    return _crc32c_extension_function()


_NOT_IMPORTED = object()


@functools.cache
def _crc32c_extension_function():
    """crc32c's C function, loaded alone: the package's __init__ also imports importlib.metadata and
    argparse for its version string and command line, 30-60 ms of every start (a tenth of nandoctor's)."""
    import importlib.machinery
    import importlib.util

    package = importlib.util.find_spec("crc32c")
    if package is None:
        return None
    finder = importlib.machinery.FileFinder((package.submodule_search_locations or [""])[0], (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES))
    spec = finder.find_spec("crc32c._crc32c")
    if spec is None:  # another layout: import it the ordinary way
        from crc32c import crc32c

        return crc32c
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.crc32c


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


_CRC_TABLE: np.ndarray | None = None


def _crc_table() -> np.ndarray:
    """The byte table of CRC32C (Castagnoli, reflected), built in numpy once."""
    global _CRC_TABLE
    if _CRC_TABLE is None:
        table = np.arange(256, dtype=np.uint32)
        for _ in range(8):
            table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
        _CRC_TABLE = table
    return _CRC_TABLE


@functools.cache
def _crc_table_list() -> list[int]:
    return _crc_table().tolist()


def _crc32c_of_few_bytes(data: bytes) -> int:
    """CRC32C (unmasked) a byte at a time in plain Python: for the few bytes of a header the loop
    costs less than a C or numpy call's set-up, and it needs no crc32c package."""
    table = _crc_table_list()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _lengths_intact(lengths: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """Per record: does the masked CRC32C of its 8 length bytes match the stored one?

    Eight table steps over all records at once; a C call per header would cost more than framing.
    """
    table = _crc_table()
    crc = np.full(lengths.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for byte in range(8):
        low_byte = ((lengths >> np.uint64(8 * byte)) & np.uint64(0xFF)).astype(np.uint32)
        crc = table[(crc ^ low_byte) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_CRC_MASK_DELTA) == stored


def _payloads_intact(file: _MappedFile, starts: np.ndarray, lengths: np.ndarray, crc) -> np.ndarray:
    """Per record: does its payload's masked CRC32C match the stored one?

    Short payloads (scalars, the bulk of a long run) are checksummed in numpy, many records per
    call; the others with one C call each.
    """
    payload_starts = starts + HEADER_BYTES
    payload_ends = payload_starts + lengths
    computed = np.empty(starts.size, dtype=np.uint32)
    widths = (lengths + 7) // 8 * 8  # each payload is read as whole 8-byte words ending at its end
    by_numpy = (lengths > 0) & (widths <= NUMPY_CRC_MAX_BYTES) & (payload_ends >= widths)
    view = file.view
    for chunk in range(0, starts.size, CHUNK_RECORDS):  # chunks: temporaries stay small, whatever the file
        part = slice(chunk, chunk + CHUNK_RECORDS)
        numpy_widths = np.where(by_numpy[part], widths[part], 0)
        counts = np.bincount(numpy_widths, minlength=NUMPY_CRC_MAX_BYTES + 1)
        for width in np.flatnonzero(counts[1:] >= NUMPY_CRC_MIN_RECORDS).tolist():
            chosen = chunk + np.flatnonzero(numpy_widths == width + 1)
            computed[chosen] = _crc32c_of_words(file, payload_ends[chosen], lengths[chosen], width + 1)
        rest = chunk + np.flatnonzero((numpy_widths == 0) | (counts[numpy_widths] < NUMPY_CRC_MIN_RECORDS))
        bounds = zip(payload_starts[rest].tolist(), payload_ends[rest].tolist())
        computed[rest] = [crc(view[start:end]) for start, end in bounds]
    masked = ((computed >> np.uint32(15)) | (computed << np.uint32(17))) + np.uint32(_CRC_MASK_DELTA)
    return masked == file.u32[payload_ends]


NUMPY_CRC_MAX_BYTES = 128  # longer payloads are few (histograms, images) and cost a C call little
NUMPY_CRC_MIN_RECORDS = 64  # fewer records of one width: C calls cost less than numpy's set-up


def _crc32c_of_words(file: _MappedFile, ends: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """CRC32C (unmasked) of the payloads [end - length, end), all `width` - 7 .. `width` bytes long.

    Slicing-by-8 over all records at once: each payload is read as the `width`-byte window of
    whole words ending at its end, the bytes before its start zeroed. A CRC register starting at
    zero stays zero over zero bytes, so the window's CRC from a zero register is the payload's;
    the standard initial value's share depends only on the length: the CRC32C of that many zero
    bytes, which is XORed in.
    """
    pair_tables = _crc_pair_tables()
    first = ends - width
    lead = (width - lengths).astype(np.uint64)  # 0..7 bytes of the first word precede the payload
    register = np.zeros(ends.size, dtype=np.uint32)
    for offset in range(0, width, 8):
        word = file.u64[first + offset]
        if offset == 0:
            word &= ~((np.uint64(1) << (np.uint64(8) * lead)) - np.uint64(1))
        pairs = word.view(np.uint16).reshape(-1, 4)  # little-endian: bytes 0-1, 2-3, 4-5, 6-7
        feed = register.view(np.uint16).reshape(-1, 2)
        register = pair_tables[0][pairs[:, 0] ^ feed[:, 0]] ^ pair_tables[1][pairs[:, 1] ^ feed[:, 1]] ^ pair_tables[2][pairs[:, 2]] ^ pair_tables[3][pairs[:, 3]]
    return register ^ _crc32c_of_zeros(width)[width - lengths]


@functools.cache
def _crc_pair_tables() -> tuple[np.ndarray, ...]:
    """Slicing-by-8 CRC32C with two bytes per lookup: table k maps bytes 2k, 2k+1 of an 8-byte word
    to their share of the register after the word (256 KB each, built once in a few ms)."""
    tables = [_crc_table()]  # tables[k][b]: the register after byte b followed by k zero bytes
    for _ in range(7):
        tables.append((tables[-1] >> np.uint32(8)) ^ tables[0][tables[-1] & np.uint32(0xFF)])
    # bytes 0..7 of the word are followed by 7..0 more bytes; index = second byte * 256 + first byte
    return tuple(np.bitwise_xor.outer(tables[6 - 2 * pair], tables[7 - 2 * pair]).ravel() for pair in range(4))


@functools.cache
def _crc32c_of_zeros(width: int) -> np.ndarray:
    """Indexed by `width` - length: the standard CRC32C of `length` zero bytes, for the 8 lengths of a width."""
    return np.array([_crc32c_of_few_bytes(bytes(max(length, 0))) for length in range(width, width - 8, -1)], dtype=np.uint32)


# --------------------------------------------------------------------------------- bulk scalar decode


_POINT_DTYPES = (np.int64, np.int64, np.int64, np.float64, np.float64)  # record, tag id, step, value, wall time


@dataclass
class _Points:
    """Scalar points found so far, in per-chunk arrays (bulk path) and lists (walker)."""

    bulk: list[list[np.ndarray]] = field(default_factory=lambda: [[] for _ in _POINT_DTYPES])  # per column, per batch
    tag_ids: dict[str, int] = field(default_factory=dict)
    records: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)

    def add_batch(self, *columns: np.ndarray) -> None:
        """Points decoded in bulk: record, tag id, step, value, wall time arrays."""
        for stored, column in zip(self.bulk, columns):
            stored.append(column)

    def tag_id(self, tag: str) -> int:
        return self.tag_ids.setdefault(tag, len(self.tag_ids))

    def add(self, record: int, tag: str, step: int, value: float, wall_time: float) -> None:
        self.records.append(record)
        self.tags.append(self.tag_id(tag))
        self.steps.append(step)
        self.values.append(value)
        self.wall_times.append(wall_time)

    def truncate(self, count: int) -> None:
        """Forget the walked points from the `count`th on (those of a record found broken)."""
        for column in (self.records, self.tags, self.steps, self.values, self.wall_times):
            del column[count:]


_STOP_BITS = np.uint64(0x8080808080808080)
_BYTE_COUNTS = np.uint64(0x0102030405060708)  # times 1 << 8k, its top byte is k + 1


def _odd_hash_weights(count: int, seed: int = 20240501) -> np.ndarray:
    """Odd pseudo-random 64-bit weights from splitmix64: numpy.random would cost 15-30 ms of every start."""
    weights, state = [], seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        mixed = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        weights.append((mixed ^ (mixed >> 31)) | 1)
    return np.array(weights, dtype=np.uint64)


_TAG_HASH_WEIGHTS = _odd_hash_weights(32)
_SKIPPED_VALUE_KEYS = (0x1A, 0x22, 0x2A, 0x32)  # old-style histogram, image, histogram, audio: never decoded
_TENSOR_KEY, _METADATA_KEY = 0x42, 0x4A
# The whole TensorProto of a TF2 scalar: dtype, empty shape, one value in float_val/double_val or tensor_content.
_FLOAT_TENSOR_HEAD, _DOUBLE_TENSOR_HEAD = 0x00120108, 0x00120208  # `08 01 12 00`, `08 02 12 00` read as uint32


def _decode_in_bulk(file: _MappedFile, records: np.ndarray, starts: np.ndarray, lengths: np.ndarray, points: _Points, plugin_of_tag: dict[str, str]) -> np.ndarray:
    """Decode what numpy can decode exactly; return the records left for the walker.

    First plain scalars, the bulk of any long run; then, among the rest, summaries of one value
    that is a histogram, image or audio (skipped unread) or a tensor whose tag's plugin is
    already known (skipped, or read when it is a TF2 scalar in one of its usual byte layouts).
    """
    rest = _decode_plain_scalars(file, records, starts, lengths, points)
    if rest.size >= MIN_BULK_RECORDS:
        positions = np.searchsorted(records, rest)
        rest = _decode_single_values(file, rest, starts[positions], lengths[positions], points, plugin_of_tag)
    return rest


def _byte_reader(file: _MappedFile):
    last = file.size - 1
    return lambda offsets: file.bytes[np.minimum(offsets, last)]


def _decode_plain_scalars(file: _MappedFile, records: np.ndarray, starts: np.ndarray, lengths: np.ndarray, points: _Points) -> np.ndarray:
    """Decode, in bulk, the records laid out exactly as one plain scalar; return the others.

    The layout is `09 <wall f64> [10 <step varint>] 2a L1 0a L2 0a Lt <tag> 15 <f32>`: an Event
    with wall_time, step (absent when 0) and a Summary of one Value holding a tag and a
    simple_value. Every byte of structure and every length is checked, and the record must end
    exactly there, so no field can repeat or hide: the walker would read the same point.
    """
    byte_at = _byte_reader(file)
    payload = starts + HEADER_BYTES
    summary, steps, plain = _event_heads(file, payload, lengths)
    summary_length = byte_at(summary + 1).astype(np.int64)
    value_length = byte_at(summary + 3).astype(np.int64)
    tag_length = byte_at(summary + 5).astype(np.int64)
    float_key = summary + 6 + tag_length
    plain &= (byte_at(summary) == 0x2A) & (byte_at(summary + 2) == 0x0A) & (byte_at(summary + 4) == 0x0A)
    plain &= (tag_length < 0x80) & (value_length == tag_length + 7) & (summary_length == value_length + 2)
    plain &= (byte_at(float_key) == 0x15) & (summary + 2 + summary_length == payload + lengths)
    if not plain.any():
        return records
    chosen = np.flatnonzero(plain)
    names, inverse = _tag_names(file, summary[chosen] + 6, tag_length[chosen])
    tag_ids = np.array([points.tag_id(name) for name in names], dtype=np.int64)[inverse]
    values = file.f32[float_key[chosen] + 1].astype(np.float64)
    points.add_batch(records[chosen], tag_ids, steps[chosen], values, file.f64[payload[chosen] + 1])
    return records[~plain]


def _event_heads(file: _MappedFile, payload: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per record: where its summary field starts, its step, and whether it opens `09 wall [10 step]`."""
    byte_at = _byte_reader(file)
    opens = (lengths >= 20) & (byte_at(payload) == 0x09)
    has_step = byte_at(payload + 9) == 0x10
    steps, step_bytes = _varints(file, payload + 10)
    opens &= ~has_step | (step_bytes > 0)
    summary = payload + 9 + np.where(has_step, 1 + step_bytes, 0)
    return summary, np.where(has_step, steps, 0), opens


def _varints(file: _MappedFile, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The varint at each offset, read from one uint64 word: (value, byte count, or 0 when over 8 bytes).

    Eight bytes hold any value below 2**56; longer ones (negative steps too) are the walker's.
    """
    words = file.u64[np.minimum(offsets, file.u64.size - 1)]
    stops = ~words & _STOP_BITS  # the high bit of a varint's last byte is clear
    lowest_stop = (stops & (~stops + np.uint64(1))) >> np.uint64(7)  # 1 << 8k for a last byte k, or 0
    byte_count = ((lowest_stop * _BYTE_COUNTS) >> np.uint64(56)).astype(np.int64)  # k + 1: C's byte 7 - k
    values = np.zeros(offsets.size, dtype=np.uint64)
    for byte in range(int(byte_count.max(initial=0))):
        group = (words >> np.uint64(8 * byte)) & np.uint64(0x7F)
        values |= np.where(byte_count > byte, group << np.uint64(7 * byte), np.uint64(0))
    return values.view(np.int64), byte_count


def _decode_single_values(file: _MappedFile, records: np.ndarray, starts: np.ndarray, lengths: np.ndarray, points: _Points, plugin_of_tag: dict[str, str]) -> np.ndarray:
    """Records whose Summary is one Value: `0a Lt <tag> K Lk <payload> [4a Lm <metadata>]`, K a
    histogram, image, audio or tensor. Skip or read them where the outcome needs no walking:
    metadata only counts for a tag's first (TensorBoard keeps the first), so a record may carry
    some only if its tag's plugin was known before this chunk.
    """
    byte_at = _byte_reader(file)
    payload = starts + HEADER_BYTES
    record_end = payload + lengths
    summary, steps, single = _event_heads(file, payload, lengths)
    summary_length, summary_length_bytes = _varints(file, summary + 1)
    value_key = summary + 1 + summary_length_bytes
    value_length, value_length_bytes = _varints(file, value_key + 1)
    value = value_key + 1 + value_length_bytes
    tag_length = byte_at(value + 1).astype(np.int64)
    field_key = value + 2 + tag_length
    kind = byte_at(field_key)
    field_length, field_length_bytes = _varints(file, field_key + 1)
    field_end = field_key + 1 + field_length_bytes + field_length
    has_metadata = (field_end < record_end) & (byte_at(field_end) == _METADATA_KEY)
    metadata_length, metadata_length_bytes = _varints(file, field_end + 1)
    value_end = np.where(has_metadata, field_end + 1 + metadata_length_bytes + metadata_length, field_end)
    single &= (byte_at(summary) == 0x2A) & (summary_length_bytes > 0) & (value_key + summary_length == record_end)
    single &= (byte_at(value_key) == 0x0A) & (value_length_bytes > 0) & (value + value_length == record_end)
    single &= (byte_at(value) == 0x0A) & (tag_length < 0x80) & (field_length_bytes > 0) & (value_end == record_end)
    single &= ~has_metadata | (metadata_length_bytes > 0)
    single &= np.isin(kind, (*_SKIPPED_VALUE_KEYS, _TENSOR_KEY))
    if not single.any():
        return records
    chosen = np.flatnonzero(single)
    names, inverse = _tag_names(file, value[chosen] + 2, tag_length[chosen])
    plugins = np.array([_plugin_code(plugin_of_tag.get(name)) for name in names], dtype=np.int8)[inverse]
    is_tensor = kind[chosen] == _TENSOR_KEY
    unknown_tag = plugins == 0
    skipped = (~is_tensor & ~(has_metadata[chosen] & unknown_tag)) | (is_tensor & (plugins == 1))
    number_at = field_key[chosen] + 1 + field_length_bytes[chosen]
    numbers, readable = _tensor_scalars(file, number_at, field_length[chosen])
    taken = is_tensor & (plugins == 2) & readable
    if taken.any():
        tag_ids = np.array([points.tag_id(name) for name in names], dtype=np.int64)[inverse]
        wall_times = file.f64[payload[chosen][taken] + 1]
        points.add_batch(records[chosen][taken], tag_ids[taken], steps[chosen][taken], numbers[taken], wall_times)
    handled = np.zeros(records.size, dtype=bool)
    handled[chosen[skipped | taken]] = True
    return records[~handled]


def _plugin_code(plugin: str | None) -> int:
    """0: the tag's plugin is not known yet; 1: known, not scalars; 2: scalars."""
    return 0 if plugin is None else 2 if plugin == "scalars" else 1


def _tensor_scalars(file: _MappedFile, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The number in each TensorProto laid out as a TF2 scalar writer lays it out, and which were.

    `08 01 12 00 (2a|22) 04 <f32>` (float_val or tensor_content) and `08 02 12 00 (32|22) 08 <f64>`;
    any other layout is left to the walker, which reads all of protobuf.
    """
    byte_at = _byte_reader(file)
    head = file.u32[np.minimum(starts, file.u32.size - 1)]
    value_key, value_length = byte_at(starts + 4), byte_at(starts + 5)
    is_float = (lengths == 10) & (head == _FLOAT_TENSOR_HEAD) & ((value_key == 0x2A) | (value_key == 0x22)) & (value_length == 4)
    is_double = (lengths == 14) & (head == _DOUBLE_TENSOR_HEAD) & ((value_key == 0x32) | (value_key == 0x22)) & (value_length == 8)
    number_at = np.minimum(starts + 6, file.f64.size - 1)
    numbers = np.where(is_double, file.f64[number_at], file.f32[number_at].astype(np.float64))
    return numbers, is_float | is_double


def _tag_names(file: _MappedFile, tag_starts: np.ndarray, tag_lengths: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct tags, and per record the index of its tag, from tag bytes read as uint64 words.

    Word j starts at byte min(8 j, length - 8) of the tag, so every word lies inside the tag
    (tags under 8 bytes are masked instead); with the length, the words are the tag. Records are
    grouped by a hash of the words, then every record is compared with its group's first.
    """
    word_count = max(1, -(-int(tag_lengths.max()) // 8))
    short = tag_lengths < 8
    short_mask = np.where(short, (np.uint64(1) << (np.uint64(8) * np.minimum(tag_lengths, 7).astype(np.uint64))) - np.uint64(1), ~np.uint64(0))
    columns = [tag_lengths.astype(np.uint64)]
    hashes = columns[0] * _TAG_HASH_WEIGHTS[0]
    for word in range(word_count):
        offsets = tag_starts + np.minimum(8 * word, np.maximum(tag_lengths - 8, 0))
        columns.append(file.u64[np.minimum(offsets, file.u64.size - 1)] & short_mask)
        hashes += columns[-1] * _TAG_HASH_WEIGHTS[(word + 1) % _TAG_HASH_WEIGHTS.size]
    first, inverse = _groups(hashes)
    if not all(np.array_equal(column, column[first][inverse]) for column in columns):  # two tags share a hash: group by the words themselves
        _, first, inverse = np.unique(np.column_stack(columns), axis=0, return_index=True, return_inverse=True)
    names = [_text(file.view[start : start + length].tobytes()) for start, length in zip(tag_starts[first].tolist(), tag_lengths[first].tolist())]
    return names, inverse.ravel()


TAG_SAMPLE = 512  # a run's tags nearly all appear in its first records


def _groups(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first index of each distinct hash and every element's group, as np.unique gives them.

    Looked up among the distinct hashes of the first records (a binary search over a few values)
    rather than sorting them all; a hash first met later sends the whole chunk to np.unique.
    """
    known, first = np.unique(hashes[:TAG_SAMPLE], return_index=True)
    inverse = np.minimum(np.searchsorted(known, hashes), known.size - 1)
    if np.array_equal(known[inverse], hashes):
        return first, inverse
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    return first, inverse


# -------------------------------------------------------------------------------------- wire walker


class _WireError(ValueError):
    """Bytes that break protobuf's wire format: a record no protobuf parser would accept."""


def _varint(buf, position: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while position < end:
        byte = buf[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, position
        shift += 7
        if shift >= 70:
            raise _WireError("varint longer than 10 bytes")
    raise _WireError("varint runs past the end of its message")


def _fields(buf, position: int, end: int):
    """Yield (number, wire type, value) per field of one message, as protobuf reads the wire.

    value is the integer of a varint, the offset of a fixed 32/64-bit field, or (start, end) of a
    length-delimited one. Groups, which only unknown fields can be here, are skipped whole.
    """
    while position < end:
        key, position = _varint(buf, position, end)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise _WireError(f"invalid field number {number}")
        if wire == 0:
            value, position = _varint(buf, position, end)
            yield number, 0, value
        elif wire == 2:
            length, position = _varint(buf, position, end)
            stop = position + length
            if stop > end:
                raise _WireError(f"field {number} runs past the end of its message")
            yield number, 2, (position, stop)
            position = stop
        elif wire == 1:
            if position + 8 > end:
                raise _WireError(f"field {number} runs past the end of its message")
            yield number, 1, position
            position += 8
        elif wire == 5:
            if position + 4 > end:
                raise _WireError(f"field {number} runs past the end of its message")
            yield number, 5, position
            position += 4
        elif wire == 3:
            position = _skip_group(buf, position, end, number)
        else:
            raise _WireError(f"unexpected wire type {wire} in field {number}")


def _skip_group(buf, position: int, end: int, number: int) -> int:
    while position < end:
        key, position = _varint(buf, position, end)
        inner, wire = key >> 3, key & 7
        if wire == 4:
            if inner != number:
                raise _WireError("mismatched end of group")
            return position
        if wire == 0:
            _, position = _varint(buf, position, end)
        elif wire == 1:
            position += 8
        elif wire == 2:
            length, position = _varint(buf, position, end)
            position += length
        elif wire == 5:
            position += 4
        elif wire == 3:
            position = _skip_group(buf, position, end, inner)
        else:
            raise _WireError(f"unexpected wire type {wire} in a group")
    raise _WireError("group runs past the end of its message")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class _Event:
    """The fields of an Event nandoctor uses; payloads of graphs and histograms are never decoded."""

    __slots__ = ("wall_time", "step", "what", "values", "session_status", "graph", "known")

    def __init__(self) -> None:
        self.wall_time = 0.0
        self.step = 0
        self.what = 0  # field number of the `what` oneof member read last
        self.values: list[tuple[int, int]] = []  # (start, end) of each Summary.Value
        self.session_status = 0
        self.graph: tuple[int, int] | None = None  # graph_def or meta_graph_def bytes
        self.known = False  # at least one Event field with its declared wire type


def _parse_event(buf, start: int, end: int) -> _Event:
    event = _Event()
    for number, wire, value in _fields(buf, start, end):
        if number == 1 and wire == 1:
            event.wall_time = _DOUBLE(buf, value)[0]
        elif number == 2 and wire == 0:
            event.step = value - (1 << 64) if value >> 63 else value
        elif number in _EVENT_WHAT and wire == 2:
            if number != event.what:  # another oneof member: the previous one is cleared
                event.what, event.values, event.session_status, event.graph = number, [], 0, None
            if number == _EVENT_SUMMARY:  # a repeated message field merges: values accumulate
                event.values.extend(span for inner, inner_wire, span in _fields(buf, *value) if inner == 1 and inner_wire == 2)
            elif number == _EVENT_SESSION_LOG:
                event.session_status = _merged_session_status(buf, value, event.session_status)
            elif number in (_EVENT_GRAPH_DEF, _EVENT_META_GRAPH_DEF):
                event.graph = value
        else:
            continue
        event.known = True
    return event


def _merged_session_status(buf, span: tuple[int, int], status: int) -> int:
    for number, wire, value in _fields(buf, *span):
        if number == 1 and wire == 0:
            status = value & 0xFFFFFFFF
    return status


class _Value:
    __slots__ = ("tag", "node_name", "has_metadata", "plugin", "kind", "simple_value", "tensors")

    def __init__(self) -> None:
        self.tag = ""
        self.node_name = ""
        self.has_metadata = False
        self.plugin = ""
        self.kind = 0  # field number of the `value` oneof member read last
        self.simple_value = 0.0
        self.tensors: list[tuple[int, int]] = []  # successive TensorProto pieces, merged when read


def _parse_value(buf, start: int, end: int) -> _Value:
    item = _Value()
    for number, wire, value in _fields(buf, start, end):
        if number == 1 and wire == 2:
            item.tag = _text(bytes(buf[value[0] : value[1]]))
        elif number == 7 and wire == 2:
            item.node_name = _text(bytes(buf[value[0] : value[1]]))
        elif number == 9 and wire == 2:
            item.has_metadata = True
            item.plugin = _merged_plugin_name(buf, value, item.plugin)
        elif number in _VALUE_ONEOF and (wire == 5 if number == _VALUE_SIMPLE else wire == 2):
            if number != item.kind:
                item.kind, item.tensors = number, []
            if number == _VALUE_SIMPLE:
                item.simple_value = _FLOAT(buf, value)[0]
            elif number == _VALUE_TENSOR:
                item.tensors.append(value)
    return item


def _merged_plugin_name(buf, span: tuple[int, int], plugin: str) -> str:
    for number, wire, value in _fields(buf, *span):
        if number == 1 and wire == 2:  # plugin_data
            for inner, inner_wire, name in _fields(buf, *value):
                if inner == 1 and inner_wire == 2:
                    plugin = _text(bytes(buf[name[0] : name[1]]))
    return plugin


def _tensor_scalar(buf, pieces: list[tuple[int, int]]) -> tuple[float | None, str]:
    """The number in a rank-0 TensorProto, read as TensorBoard's make_ndarray does; else why not."""
    dtype = 0
    rank = 0
    content: tuple[int, int] | None = None
    listed: dict[int, list] = {5: [], 6: [], 7: [], 10: [], 13: []}
    for span in pieces:  # a message field met twice merges: scalars last-wins, repeated ones append
        for number, wire, value in _fields(buf, *span):
            if number == 1 and wire == 0:
                dtype = value & 0xFFFFFFFF
            elif number == 2 and wire == 2:
                rank += sum(1 for inner, inner_wire, _ in _fields(buf, *value) if inner == 2 and inner_wire == 2)
            elif number == 4 and wire == 2:
                content = value
            elif number in listed:
                listed[number].extend(_repeated_numbers(buf, number, wire, value))
    if dtype not in _TENSOR_NUMBER_TYPES:
        return None, f"dtype {dtype} is not a number type"
    if rank:
        return None, f"a tensor of rank {rank}, not a scalar"
    numpy_type, values_field = _TENSOR_NUMBER_TYPES[dtype]
    width = np.dtype(numpy_type).itemsize
    if content is not None and content[1] > content[0]:
        if content[1] - content[0] != width:
            return None, f"tensor_content of {content[1] - content[0]} bytes for one {width}-byte value"
        return float(np.frombuffer(bytes(buf[content[0] : content[1]]), dtype=numpy_type)[0]), ""
    numbers = listed[values_field]
    if len(numbers) != 1:
        return None, f"{len(numbers)} values in a scalar tensor"
    return _number_as(numbers[0], numpy_type), ""


def _repeated_numbers(buf, number: int, wire: int, value) -> list:
    """One repeated numeric field occurrence, packed or not, as raw Python numbers."""
    fixed = {5: ("<f", 4, 5), 6: ("<d", 8, 1)}.get(number)
    if fixed is not None:
        code, width, unpacked_wire = fixed
        if wire == unpacked_wire:
            return [struct.unpack_from(code, buf, value)[0]]
        if wire != 2 or (value[1] - value[0]) % width:
            return []
        count = (value[1] - value[0]) // width
        return list(struct.unpack_from(f"<{count}{code[1]}", buf, value[0]))
    if wire == 0:
        return [value]
    if wire != 2:
        return []
    numbers = []
    position, end = value
    while position < end:
        item, position = _varint(buf, position, end)
        numbers.append(item)
    return numbers


def _number_as(raw, numpy_type: str) -> float:
    if numpy_type == "<f2":
        return float(np.array(raw & 0xFFFF, dtype=np.uint16).view(np.float16))
    if numpy_type == "<i4":
        raw &= 0xFFFFFFFF
        return float(raw - (1 << 32) if raw >> 31 else raw)
    if numpy_type == "<i8":
        return float(raw - (1 << 64) if raw >> 63 else raw)
    return float(raw)


@dataclass
class _WalkState:
    """What the walker carries from record to record, as TensorBoard does."""

    plugin_of_tag: dict[str, str] = field(default_factory=dict)  # the first metadata of a tag is the one that counts
    restarts: list[tuple[int, int]] = field(default_factory=list)  # (record, step) of each SessionLog.START
    keras_graph: bool = False
    skipped_tensors: dict[str, list] = field(default_factory=dict)  # tag -> [count, first reason]


def _walk_record(view, index: int, start: int, end: int, state: _WalkState, points: _Points, damage: "_Damage") -> None:
    """Read one record with the walker; a record protobuf would reject leaves no trace but a warning."""
    points_before, plugins_before = len(points.records), len(state.plugin_of_tag)
    try:
        event = _parse_event(view, start, end)
        if event.what == _EVENT_SUMMARY:
            for item in [_parse_value(view, *span) for span in event.values]:
                _take_value(view, item, index, event, state, points)
        elif event.what == _EVENT_SESSION_LOG and event.session_status == _SESSION_START:
            state.restarts.append((index, event.step))
        elif event.graph is not None and not state.keras_graph:
            state.keras_graph = view.obj.find(_KERAS_GRAPH_MARK, *event.graph) >= 0
    except _WireError as error:
        points.truncate(points_before)
        for tag in list(state.plugin_of_tag)[plugins_before:]:  # dicts keep insertion order
            del state.plugin_of_tag[tag]
        damage.unparsable(index, start - HEADER_BYTES, str(error))


def _take_value(view, item: _Value, index: int, event: _Event, state: _WalkState, points: _Points) -> None:
    if item.has_metadata and item.tag not in state.plugin_of_tag:
        state.plugin_of_tag[item.tag] = item.plugin
    if item.kind == _VALUE_SIMPLE:
        points.add(index, item.tag, event.step, item.simple_value, event.wall_time)
    elif item.kind == _VALUE_TENSOR:
        tag = item.tag or item.node_name  # old tensor summaries named only their node
        if state.plugin_of_tag.get(tag) != "scalars":
            return  # histograms, images, text, graphs: TF2 writes them all as tensors
        number, reason = _tensor_scalar(view, item.tensors)
        if number is None:
            state.skipped_tensors.setdefault(tag, [0, reason])[0] += 1
        else:
            points.add(index, tag, event.step, number, event.wall_time)


# ------------------------------------------------------------------------------------------ assembly


@dataclass
class _Damage:
    """Damage met while reading: warnings for the user, integrity events for the rules."""

    warnings: list[str] = field(default_factory=list)
    events: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, message, record where data was lost)
    counts: dict[str, int] = field(default_factory=dict)

    def _record(self, kind: str, message: str, record: int, *, lost: bool = True) -> None:
        """Every per-record warning comes here, so a file damaged all through stays a few lines.
        Only a record whose data was lost is an integrity event for the rules."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= MAX_RECORD_WARNINGS:
            self.warnings.append(message)
            if lost:
                self.events.append(("corrupt", message, record))

    def bad_payload(self, record: int, offset: int) -> None:
        self._record("checksum", f"record {record} at byte {offset}: data checksum mismatch; record skipped", record)

    def unparsable(self, record: int, offset: int, reason: str) -> None:
        self._record("unparsable", f"record {record} at byte {offset}: not a valid Event ({reason}); record skipped", record)

    def bad_header(self, record: int, offset: int, outcome: str) -> None:
        self._record("length", f"record {record} at byte {offset}: length checksum mismatch; {outcome}", record)

    def length_recovered(self, record: int, offset: int) -> None:
        message = f"record {record} at byte {offset}: length checksum mismatch, but its data checksum holds up to the next intact record; read"
        self._record(_LENGTH_RECOVERED, message, record, lost=False)

    def truncated(self, record: int, offset: int, size: int) -> None:
        self.warnings.append(f"truncated at byte {size} (last record incomplete)")
        self.events.append(("truncated", f"truncated at byte {size} (last record incomplete: record {record}, from byte {offset})", record))

    def summarise(self) -> None:
        for kind, count in self.counts.items():
            if count > MAX_RECORD_WARNINGS:
                more = count - MAX_RECORD_WARNINGS
                self.warnings.append(f"... and {more} more records read despite a length checksum mismatch" if kind == _LENGTH_RECOVERED else f"... and {more} more records skipped ({kind})")


_LENGTH_RECOVERED = "length recovered"  # a kind of damage whose records were read, not skipped


def _finish(part: RunPart, points: _Points, state: _WalkState, damage: _Damage) -> None:
    columns = _all_points(points)  # record, tag id, step, value, wall time; regrouped in place below
    tag_ids = columns.pop(1)
    _add_events(part, state, damage, records=columns[0], steps=columns[1])
    names = sorted(points.tag_ids, key=points.tag_ids.get)
    keras = state.keras_graph or state.plugin_of_tag.get("keras") == "graph_keras_model" or "epoch_loss" in points.tag_ids
    if keras:
        part.meta["framework"] = "keras"
    for tag_id, (start, end), grouped in _by_tag(tag_ids, len(names), columns):
        name = names[tag_id]
        tag_records, tag_steps, tag_values, tag_wall_times = (column[start:end] for column in grouped)
        unit = "epoch" if keras and name.startswith("epoch_") else "step"
        part.series.append(Series(name, tag_steps, tag_values, locations=tag_records, wall_time=tag_wall_times, step_unit=unit))


def _add_events(part: RunPart, state: _WalkState, damage: _Damage, *, records: np.ndarray, steps: np.ndarray) -> None:
    """Restarts, skipped tensors and damage; an integrity event carries the last step read before it."""
    for record, step in state.restarts:
        if step > 0 or (records.size and records[0] < record):  # TF1 opens every session, the first too, with START at step 0
            part.events.append(RunEvent("restart", f"training restarted from step {step} (SessionLog.START in record {record})", step=step, line=record))
    for tag, (count, reason) in state.skipped_tensors.items():
        part.warnings.append(f"tag {tag!r}: {count} scalar tensor points skipped ({reason})")
    damage.summarise()
    part.warnings.extend(damage.warnings)
    for kind, message, record in damage.events:
        before = int(np.searchsorted(records, record))
        part.events.append(RunEvent(kind, message, step=int(steps[before - 1]) if before else None, line=record))


def _all_points(points: _Points) -> list[np.ndarray]:
    """Every point in file order: record, tag id, step, value, wall time; built a column at a time."""
    walked = (points.records, points.tags, points.steps, points.values, points.wall_times)
    columns = []
    for batches, items, dtype in zip(points.bulk, walked, _POINT_DTYPES):
        columns.append(np.concatenate([*batches, np.array(items, dtype=dtype)]))
        batches.clear()
    order = None
    if not np.all(columns[0][1:] >= columns[0][:-1]):  # several sorted runs (bulk stages, walker): merge them
        order = np.argsort(columns[0], kind="stable")  # stable: a record's several values keep their order
    return _reordered(columns, order)


def _reordered(columns: list[np.ndarray], order: np.ndarray | None) -> list[np.ndarray]:
    """The columns taken in `order`, one at a time so only one spare column is alive."""
    if order is not None:
        for index in range(len(columns)):
            columns[index] = columns[index][order]
    return columns


def _by_tag(tag_ids: np.ndarray, tag_count: int, columns: list[np.ndarray]):
    """(tag id, (start, end), columns) per tag in order of first appearance; each tag's points are
    the slice start:end of the columns, regrouped by tag with file order kept inside a tag."""
    if not tag_ids.size:
        return
    small = tag_ids.astype(np.uint16) if tag_count < 2**16 else tag_ids  # numpy radix-sorts small ints
    order = np.argsort(small, kind="stable")
    first_seen = np.full(tag_count, tag_ids.size, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(tag_ids, minlength=tag_count))])
    present = [tag_id for tag_id in range(tag_count) if bounds[tag_id + 1] > bounds[tag_id]]
    for tag_id in present:
        first_seen[tag_id] = order[bounds[tag_id]]
    _reordered(columns, order)
    del order
    for tag_id in sorted(present, key=lambda tag: first_seen[tag]):
        yield tag_id, (int(bounds[tag_id]), int(bounds[tag_id + 1])), columns
