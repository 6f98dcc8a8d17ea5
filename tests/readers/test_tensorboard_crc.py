"""The payload checksums computed in numpy (short records, many at once) are CRC32C bit for bit.

Payloads of every length up to past the numpy limit are framed by tensorboard's RecordWriter, enough
records of each width that the numpy path takes them; the verdicts must be what one C call per
record gives, for intact records and for records with one flipped bit anywhere in their payload.
"""

from __future__ import annotations

import mmap
import random

import numpy as np
import pytest

from nandoctor.readers import tensorboard as tb

from tests.hostile.helpers import record_starts

from .tb_writers import scalar, write_event_file, write_records

crc32c = pytest.importorskip("crc32c")


def _verdicts(path) -> tuple[np.ndarray, np.ndarray]:
    """(numpy path's verdict, one C call per record's verdict) for every record of a file."""
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    file = tb._MappedFile(mapped)
    try:
        starts, end = tb._frame(file)
        lengths = np.diff(starts, append=end) - tb.RECORD_OVERHEAD
        fast = tb._payloads_intact(file, starts, lengths, crc32c.crc32c)
        data = bytes(mapped)
        slow = np.array([tb._masked(crc32c.crc32c(data[start + 12 : start + 12 + length])) == int.from_bytes(data[start + 12 + length : start + 16 + length], "little") for start, length in zip(starts.tolist(), lengths.tolist())])
    finally:
        file.release()
        del file
        mapped.close()
    return fast, slow


def _payloads(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    lengths = [length for length in range(0, tb.NUMPY_CRC_MAX_BYTES + 40) for _ in range(tb.NUMPY_CRC_MIN_RECORDS + 3)]
    rng.shuffle(lengths)
    return [rng.randbytes(length) for length in lengths]


def test_intact_records_of_every_length_all_pass(tmp_path):
    path = write_records(tmp_path / "records.tfrecord", _payloads(1))
    fast, slow = _verdicts(path)
    assert slow.all() and np.array_equal(fast, slow)


def test_one_flipped_bit_anywhere_in_a_short_payload_fails_that_record_only(tmp_path):
    payloads = _payloads(2)
    path = write_records(tmp_path / "records.tfrecord", payloads)
    data = bytearray(path.read_bytes())
    rng = random.Random(3)
    position, flipped = 0, []
    for index, payload in enumerate(payloads):
        if payload and rng.random() < 0.05:
            byte = position + 12 + rng.randrange(len(payload))  # first, middle and last bytes all occur
            data[byte] ^= 1 << rng.randrange(8)
            flipped.append(index)
        position += len(payload) + tb.RECORD_OVERHEAD
    path.write_bytes(bytes(data))
    fast, slow = _verdicts(path)
    assert np.array_equal(fast, slow)
    assert np.flatnonzero(~fast).tolist() == flipped and len(flipped) > 100


def test_a_flipped_bit_in_one_of_thousands_of_real_scalar_records_loses_that_point_only(tmp_path):
    events = [scalar(tag, 1.0 / (step + 1), step) for step in range(1000) for tag in ("train/loss", "train/lr", "train/grad_norm")]
    path = write_event_file(tmp_path / "run", events)
    data = bytearray(path.read_bytes())
    starts = record_starts(bytes(data))
    data[starts[1500] + 12 + 20] ^= 0x10
    path.write_bytes(bytes(data))
    part = tb.read(path)
    assert part.warnings == [f"record 1500 at byte {starts[1500]}: data checksum mismatch; record skipped"]
    assert sum(len(series) for series in part.series) == 3000 - 1
    assert sum(len(series) for series in tb.read(path, verify_crc=False).series) == 3000  # unchecked, the damaged point is read
