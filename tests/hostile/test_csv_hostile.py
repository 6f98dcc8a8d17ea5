"""Damaged and odd CSV metrics: the numbers that are there are read, the rest is reported once."""

from __future__ import annotations

import time

import pytest

from nandoctor.readers import csv as csv_reader

from .helpers import analyse, assert_no_traceback, exit_status, findings_of, nandoctor, points, problems_of


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_ragged_rows_keep_their_cells_and_are_reported_once(tmp_path):
    path = write(tmp_path, "training.log", "epoch,loss,val_loss\n0,1.0,2.0\n1,0.9\n2,0.8,1.5,7,8\n3,0.7,1.4\n")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1, 2, 3], [1.0, 0.9, 0.8, 0.7])
    assert points(analysis, "val_loss") == ([0, 2, 3], [2.0, 1.5, 1.4])
    (problem,) = problems_of(analysis, path)
    assert problem.startswith("2 rows have a different number of fields than the header (first at line 3)")
    assert len(findings_of(analysis, "LOG004")) == 1


def test_a_header_only_file_is_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, "metrics.csv", "epoch,loss,val_loss\n")
    result = nandoctor("analyze", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {path}: a CSV header but no data rows"]


def test_a_repeated_header_from_append_mode_is_a_restart_not_damage(tmp_path):
    path = write(tmp_path, "training.log", "epoch,loss,val_loss\n0,1.0,2.0\n1,0.9,1.9\nepoch,loss,val_loss\n0,1.1,2.1\n1,0.8,1.8\n2,0.7,1.7\n")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1, 2], [1.1, 0.8, 0.7])  # the restarted run supersedes the first
    assert problems_of(analysis, path) == []
    assert {event.kind for event in analysis.diagnoses[0].run.events} == {"restart", "rewind"}


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbfepoch,loss,val_loss\r\n0,1.0,2.0\r\n1,0.9,1.9\r\n",  # BOM + CRLF (Windows Keras)
        b"epoch;loss;val_loss\n0;1,0;2,0\n1;0,9;1,9\n",  # `;` with decimal commas (a German Excel export)
        b"epoch;loss;val_loss\n0;1.0;2.0\n1;0.9;1.9\n",  # `;` with points
        b'"epoch","loss","val_loss"\n"0","1.0","2.0"\n"1","0.9","1.9"\n',  # every field quoted
        b"epoch,loss,val_loss\n0,1.0,2.0\n1,0.9,1.9",  # no newline at the end: the last line is whole
        b"\xff\xfee\x00p\x00o\x00c\x00h\x00,\x00l\x00o\x00s\x00s\x00,\x00v\x00a\x00l\x00_\x00l\x00o\x00s\x00s\x00\n\x000\x00,\x001\x00.\x000\x00,\x002\x00.\x000\x00\n\x001\x00,\x000\x00.\x009\x00,\x001\x00.\x009\x00\n\x00",  # UTF-16
    ],
    ids=["bom-crlf", "semicolon-decimal-comma", "semicolon", "quoted", "no-final-newline", "utf16"],
)
def test_dialects_read_the_same_numbers_without_damage(tmp_path, content):
    path = write(tmp_path, "training.log", content)
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1], [1.0, 0.9])
    assert points(analysis, "val_loss") == ([0, 1], [2.0, 1.9])
    assert problems_of(analysis, path) == [] and findings_of(analysis, "LOG004") == []


def test_a_quoted_field_holding_the_delimiter_and_a_newline_stays_one_cell(tmp_path):
    path = write(tmp_path, "metrics.csv", 'step,loss,note\n0,1.0,"warmup, then\ncosine"\n1,0.9,ok\n')
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1], [1.0, 0.9])
    assert problems_of(analysis, path) == []


def test_junk_in_a_numeric_column_is_skipped_and_reported_once_per_file(tmp_path):
    path = write(tmp_path, "training.log", "epoch,loss,val_loss\n0,1.0,2.0\n1,abc,1.9\n2,0.8,???\n3,0.7,1.4\n")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 2, 3], [1.0, 0.8, 0.7])
    assert points(analysis, "val_loss") == ([0, 1, 3], [2.0, 1.9, 1.4])
    assert problems_of(analysis, path) == ["column 'loss': 1 non-numeric cell in rows of numbers skipped (first at line 3) (and 1 more damaged part)"]
    (unreadable,) = findings_of(analysis, "LOG004")
    assert "2 corrupt records" in unreadable.message


def test_an_error_message_line_inside_the_csv_is_not_damage(tmp_path):
    path = write(tmp_path, "metrics.csv", "epoch,loss\n0,2.3\nRuntimeError: loss is nan, stopping\n1,2.2\n")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1], [2.3, 2.2])
    assert problems_of(analysis, path) == []


def test_a_million_columns_in_the_header_are_read_within_bounds_and_the_cut_reported(tmp_path):
    columns = 10**6
    header = "epoch,loss," + ",".join(f"c{index}" for index in range(columns - 2))
    rows = ["0,1.0," + ",".join("1" for _ in range(columns - 2)), "1,0.9," + ",".join("2" for _ in range(columns - 2))]
    path = write(tmp_path, "wide.csv", "\n".join([header, *rows]) + "\n")
    started = time.perf_counter()
    result = nandoctor("analyze", path, "--format", "json", timeout=300)
    seconds = time.perf_counter() - started
    assert result.returncode in (0, 1), result.stderr
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {path}: line 1: a header of {columns} columns; only {csv_reader.MAX_COLUMNS} columns are read per file (those named like a metric or the step axis first), {columns - csv_reader.MAX_COLUMNS} columns skipped"]
    assert seconds < 120, seconds


def test_a_million_fields_on_one_data_line_are_ignored_beside_the_header(tmp_path):
    path = write(tmp_path, "metrics.csv", "epoch,loss\n0,1.0\n1,0.9," + ",".join("1" for _ in range(10**6)) + "\n2,0.8\n")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1, 2], [1.0, 0.9, 0.8])
    (problem,) = problems_of(analysis, path)
    assert problem.startswith("1 row has a different number of fields than the header (first at line 3)")


def test_a_field_too_long_for_the_csv_module_is_skipped_and_reported(tmp_path):
    path = write(tmp_path, "metrics.csv", 'epoch,loss\n0,1.0\n1,"' + "x" * 300_000 + '"\n2,0.8\n')
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 2], [1.0, 0.8])
    (problem,) = problems_of(analysis, path)
    assert "could not be parsed as CSV" in problem
    assert exit_status(analysis) in (0, 1)


def test_a_last_line_cut_mid_write_drops_the_cut_cell_and_says_where(tmp_path):
    path = write(tmp_path, "training.log", "epoch,loss,val_loss\n0,1.0,2.0\n1,0.9,1.9\n2,0.8")
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 1], [1.0, 0.9])  # "0.8" may have been "0.85": not trusted
    assert points(analysis, "val_loss") == ([0, 1], [2.0, 1.9])
    assert problems_of(analysis, path) == ["line 4 was cut off mid-write"]
    assert len(findings_of(analysis, "LOG001")) == 1


def test_non_utf8_and_nul_bytes_in_a_csv_do_not_stop_the_reading(tmp_path):
    path = write(tmp_path, "metrics.csv", b"step,loss\n0,1.0\n1,0.9\xff\xfe\n2,0\x008\n3,0.7\n" + b"\x00" * 4096)  # a NUL-filled tail, as a crash leaves
    analysis = analyse(path)
    assert points(analysis, "loss") == ([0, 3], [1.0, 0.7])
    assert problems_of(analysis, path) == ["line 6 was cut off mid-write (and 1 more damaged part)"]  # the NUL tail
    assert len(findings_of(analysis, "LOG001")) == 1 and "2 corrupt records" not in findings_of(analysis, "LOG004")[0].message
