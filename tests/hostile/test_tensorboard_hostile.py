"""Damaged TensorBoard event files: what can be read is analysed, what cannot is reported once.

A cut at any byte of the last record, a flipped bit in a length, its checksum, a payload or the
payload's checksum, an empty file, a file named like an event file that is not one, and a file
that a real TensorBoard writer is still appending to while it is read.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from nandoctor.readers import ReadError
from nandoctor.readers import tensorboard as tb

from .helpers import analyse, assert_no_traceback, exit_status, findings_of, nandoctor, points, problems_of, record_starts, scalar_event_file

STEPS = 30


@pytest.fixture
def event_file(tmp_path):
    return scalar_event_file(tmp_path / "run" / "events.out.tfevents.1700000000.host", steps=STEPS)


def _cut_copy(source, target, end: int):
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes()[:end])
    return target


def test_a_cut_at_every_byte_of_the_last_record_keeps_every_point_before_it_and_says_so(event_file, tmp_path):
    data = event_file.read_bytes()
    last = record_starts(data)[-1]
    expected_steps = list(range(STEPS - 1))
    for end in range(last + 1, len(data)):
        path = _cut_copy(event_file, tmp_path / f"cut{end}" / event_file.name, end)
        analysis = analyse(path.parent)
        steps, values = points(analysis, "train/loss")
        assert steps == expected_steps, end
        assert values == pytest.approx([2.3 * 0.97**step for step in expected_steps], rel=1e-6)
        assert problems_of(analysis, path) == [f"truncated at byte {end} (last record incomplete: record {STEPS}, from byte {last})"]
        (cut,) = findings_of(analysis, "LOG001")
        assert cut.source == str(path) and f"at byte {end}" in cut.message and "after step 28" in cut.message
        assert exit_status(analysis) in (0, 1)


def test_a_cut_file_through_the_cli_is_one_line_on_stderr_an_error_in_json_and_a_finding(event_file, tmp_path):
    data = event_file.read_bytes()
    end = record_starts(data)[-1] + 7
    path = _cut_copy(event_file, tmp_path / "cut" / event_file.name, end)
    result = nandoctor("analyze", path.parent, "--format", "json")
    assert result.returncode in (0, 1)
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {path}: truncated at byte {end} (last record incomplete: record {STEPS}, from byte {end - 7})"]
    report = json.loads(result.stdout)
    assert report["errors"] == [{"path": str(path), "message": f"truncated at byte {end} (last record incomplete: record {STEPS}, from byte {end - 7})"}]
    assert [finding["rule"] for finding in report["runs"][0]["findings"] if finding["rule"].startswith("LOG")] == ["LOG001"]


def _flipped(event_file, tmp_path, offset: int, bit: int, name: str):
    data = bytearray(event_file.read_bytes())
    data[offset] ^= 1 << bit
    target = tmp_path / name / event_file.name
    target.parent.mkdir(parents=True)
    target.write_bytes(bytes(data))
    return target


def test_a_flipped_bit_anywhere_in_a_length_or_its_checksum_loses_no_point(event_file, tmp_path):
    """TensorBoard stops at a damaged length; nandoctor finds the next record by its checksums and
    reads the damaged one too, since its data checksum still holds."""
    intact = tb.read(event_file).series[0]
    record = 12
    start = record_starts(event_file.read_bytes())[record]
    for offset in range(start, start + 12):  # 8 length bytes, 4 checksum bytes
        for bit in range(8):
            part = tb.read(_flipped(event_file, tmp_path, offset, bit, f"flip{offset}_{bit}"))
            (series,) = part.series
            assert series.steps.tolist() == intact.steps.tolist() and series.values.tolist() == intact.values.tolist()
            assert part.warnings == [f"record {record} at byte {start}: length checksum mismatch, but its data checksum holds up to the next intact record; read"]
            assert part.events == []


def test_a_flipped_bit_in_a_length_of_a_corrupt_record_skips_only_that_record(event_file, tmp_path):
    data = bytearray(event_file.read_bytes())
    starts = record_starts(bytes(data))
    record = 12
    data[starts[record] + 1] ^= 0x01  # its length
    data[starts[record] + 20] ^= 0x01  # and its data
    path = tmp_path / "both" / event_file.name
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    analysis = analyse(path.parent)
    steps, _ = points(analysis, "train/loss")
    assert steps == [step for step in range(STEPS) if step != record - 1]
    skipped = starts[record + 1] - starts[record]
    assert problems_of(analysis, path) == [f"record {record} at byte {starts[record]}: length checksum mismatch; {skipped} bytes skipped, reading resumed at byte {starts[record + 1]}"]
    assert len(findings_of(analysis, "LOG004")) == 1


@pytest.mark.parametrize("where", ["payload", "data checksum"])
def test_a_flipped_bit_in_a_payload_or_its_checksum_loses_that_record_only(event_file, tmp_path, where):
    starts = record_starts(event_file.read_bytes())
    record = 20
    offset = starts[record] + 12 + 3 if where == "payload" else starts[record + 1] - 2
    path = _flipped(event_file, tmp_path, offset, 5, "flipped")
    analysis = analyse(path.parent)
    steps, _ = points(analysis, "train/loss")
    assert steps == [step for step in range(STEPS) if step != record - 1]
    assert problems_of(analysis, path) == [f"record {record} at byte {starts[record]}: data checksum mismatch; record skipped"]
    (unreadable,) = findings_of(analysis, "LOG004")
    assert unreadable.source == str(path) and "1 corrupt record" in unreadable.message


def test_an_empty_event_file_alone_is_nothing_readable_exit_2_in_one_line(tmp_path):
    path = tmp_path / "run" / "events.out.tfevents.1700000000.host"
    path.parent.mkdir()
    path.write_bytes(b"")
    result = nandoctor("analyze", path.parent)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {path}: empty file: nothing was written to it"]


def test_an_empty_validation_file_beside_a_readable_train_file_is_reported_and_the_rest_analysed(event_file, tmp_path):
    run = tmp_path / "keras"
    train = run / "train" / event_file.name
    train.parent.mkdir(parents=True)
    train.write_bytes(event_file.read_bytes())
    validation = run / "validation" / event_file.name
    validation.parent.mkdir()
    validation.write_bytes(b"")
    analysis = analyse(run)
    assert len(points(analysis, "train/train/loss")[0]) == STEPS  # the Keras sub-folder prefixes its tags
    assert problems_of(analysis, validation) == ["empty file: nothing was written to it"]
    (unreadable,) = findings_of(analysis, "LOG004")
    assert unreadable.source == str(validation)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"epoch,loss\n0,1.5\n1,1.2\n", "not a TensorBoard event file: its first record's length checksum does not match, nor does any later record's"),
        (b"\x00" * 4096, "not a TensorBoard event file: its first record's length checksum does not match, nor does any later record's"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64, "not a TensorBoard event file: its first record's length checksum does not match, nor does any later record's"),
        (b"\x1f\x8b\x08\x00tiny", "not a TensorBoard event file, or cut off: 8 bytes, shorter than one record header"),
    ],
    ids=["csv", "zeros", "png", "short"],
)
def test_a_file_named_like_an_event_file_that_is_not_one_is_one_line_and_exit_2(tmp_path, content, reason):
    path = tmp_path / "events.out.tfevents.1700000000.host"
    path.write_bytes(content)
    result = nandoctor("analyze", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {path}: {reason}"]


def test_a_file_cut_inside_its_first_record_has_nothing_readable(event_file, tmp_path):
    first_end = record_starts(event_file.read_bytes())[1]
    for end in (12, 20, first_end - 1):
        path = _cut_copy(event_file, tmp_path / f"first{end}" / event_file.name, end)
        with pytest.raises(ReadError, match="nothing readable"):
            tb.read(path)


def test_a_file_still_being_written_by_tensorboard_reads_as_a_growing_prefix(tmp_path):
    """A writer thread (tensorboard's own EventFileWriter) appends and flushes while we read: every
    read is a prefix of what was written, damage is at most a cut last record, never a crash."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    total = 3000
    writer = EventFileWriter(str(tmp_path), max_queue_size=5, flush_secs=1)
    started = threading.Event()

    def write() -> None:
        for step in range(total):
            value = summary_pb2.Summary.Value(tag="loss", simple_value=float(step))
            writer.add_event(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[value])))
            if step % 50 == 0:
                writer.flush()
                started.set()
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    started.wait(30)
    (path,) = tmp_path.glob("*tfevents*")
    reads, previous = 0, -1
    deadline = time.monotonic() + 60
    while (thread.is_alive() or reads == 0) and time.monotonic() < deadline:  # a reader that always fails must fail the test, not hang it
        try:
            part = tb.read(path)
        except ReadError as error:  # only before the first record is complete
            assert "nothing readable" in str(error) or "shorter than one record header" in str(error)
            continue
        reads += 1
        series = {item.name: item for item in part.series}
        if "loss" in series:
            steps = series["loss"].steps.tolist()
            assert steps == list(range(len(steps))) and series["loss"].values.tolist() == [float(step) for step in steps]
            assert len(steps) >= previous
            previous = len(steps)
        assert all(event.kind == "truncated" for event in part.events), part.warnings
    thread.join()
    final = tb.read(path)
    assert final.warnings == [] and final.events == []
    assert final.series[0].steps.tolist() == list(range(total))
    assert reads >= 2


def test_an_event_file_that_grows_between_sniffing_and_reading_is_read_to_where_it_was_mapped(event_file, tmp_path):
    data = event_file.read_bytes()
    path = tmp_path / "grow" / event_file.name
    path.parent.mkdir()
    half = record_starts(data)[STEPS // 2]
    path.write_bytes(data[:half])
    head = path.read_bytes()
    assert tb.sniff(path, head)
    with open(path, "ab") as handle:  # the writer goes on: a record and a half
        handle.write(data[half : record_starts(data)[STEPS // 2 + 1] + 5])
    part = tb.read(path)
    assert len(part.series[0]) == STEPS // 2  # file_version + the scalars before `half`, plus the one appended
    assert [event.kind for event in part.events] == ["truncated"]
