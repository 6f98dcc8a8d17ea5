"""The TensorBoard reader gives every scalar TensorBoard's EventAccumulator gives, bit for bit, and survives damage."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nandoctor.load import load_paths, resolve_rewinds
from nandoctor.readers import ReadError, reader_for
from nandoctor.readers import tensorboard as tb

from . import tb_writers as tbw
from .tb_writers import Event, Summary, Value


def points_of(part) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {series.name: (series.steps, series.values, series.wall_time) for series in part.series}


def assert_same_points(ours: dict, reference: dict) -> None:
    """Same tags, and per tag the same steps, wall times and values, bit for bit (NaN payloads too)."""
    assert sorted(ours) == sorted(reference)
    for tag, (steps, values, wall_times) in reference.items():
        our_steps, our_values, our_wall_times = ours[tag]
        assert our_steps.tolist() == steps.tolist(), tag
        assert our_values.view(np.uint64).tolist() == values.view(np.uint64).tolist(), tag
        assert our_wall_times.view(np.uint64).tolist() == wall_times.view(np.uint64).tolist(), tag


def assert_reads_like_tensorboard(path: Path) -> None:
    """Our reading equals EventAccumulator's, and the bulk path equals the walker at any chunk size."""
    part = tb.read(path)
    assert_same_points(points_of(part), tbw.ea_scalars(path))
    for variant in (tb._read_file(path, bulk_decode=False), tb._read_file(path, chunk_records=7), tb.read(path, verify_crc=False)):
        assert_same_points(points_of(variant), points_of(part))
        assert [series.locations.tolist() for series in variant.series] == [series.locations.tolist() for series in part.series]


def realworld_event_files(root: Path) -> list[Path]:
    return sorted(path for path in (root / "tfevents").rglob("*") if path.is_file() and "tfevents" in path.name)


# ------------------------------------------------------------------------------------ real-world logs


def test_every_real_event_file_reads_point_for_point_like_event_accumulator(realworld):
    files = realworld_event_files(realworld)
    assert len(files) >= 10
    for path in files:
        assert_reads_like_tensorboard(path)
        assert tb.read(path).warnings == []


def test_every_real_run_has_its_whole_train_loss(realworld):
    for run_path in sorted((realworld / "tfevents").iterdir()):
        runs, problems = load_paths([str(run_path)])
        assert problems == [] and len(runs) == 1, run_path.name
        run = runs[0]
        train_loss = run.get(run.train_loss)
        assert train_loss is not None, run_path.name
        file_path = Path(train_loss.source)
        tag = train_loss.name.removeprefix(file_path.parent.name + "/") if file_path.parent.name in ("train", "validation") else train_loss.name
        steps, values, _ = tbw.ea_scalars(file_path, purge=True)[tag]
        assert len(train_loss) == len(steps) > 0, run_path.name
        assert train_loss.steps.tolist() == steps.tolist()
        assert np.array_equal(train_loss.values, values)


def test_keras_runs_are_recognised_and_counted_in_epochs(realworld):
    tfevents = realworld / "tfevents"
    frameworks = {path.name[:3]: load_paths([str(path)])[0][0] for path in sorted(tfevents.iterdir())}
    assert {key: run.framework for key, run in frameworks.items()} == {"016": "keras", "017": "keras", "018": "keras", "019": "keras", "020": "keras", "021": None, "022": None}
    tf2_keras = frameworks["016"]
    assert tf2_keras.get("train/epoch_loss").step_unit == "epoch"
    assert tf2_keras.get("validation/epoch_loss").step_unit == "epoch"
    assert tf2_keras.get("validation/evaluation_loss_vs_iterations").step_unit == "step"
    assert len(tf2_keras.get("validation/epoch_loss")) == 20


# ---------------------------------------------------------------------------------- generated files


def test_plain_scalars_with_nan_inf_and_extreme_steps_match(tmp_path):
    events = []
    for step in range(300):
        events.append(tbw.scalar("loss", 1.0 / (step + 1), step))
        events.append(tbw.scalar("train/learning_rate", 0.1 * 0.99**step, step))
    events += [tbw.scalar("loss", value, step) for value, step in ((math.nan, 300), (math.inf, 301), (-math.inf, 302), (-0.0, 303), (3.4e38, 2**40), (1e-45, 2**56), (7.0, 2**63 - 1))]
    events += [tbw.scalar("loss", 1.0, -5), tbw.scalar("é/ünïcode ✓", 2.0, 4), tbw.scalar("x" * 300, 3.0, 5), tbw.scalar("", 4.0, 6)]
    events += [tbw.scalar("loss", 5.0, 7, wall_time=0.0)]
    path = tbw.write_event_file(tmp_path / "run", events)
    assert_reads_like_tensorboard(path)
    loss = next(series for series in tb.read(path).series if series.name == "loss")
    assert len(loss) == 300 + 7 + 2
    assert math.isnan(loss.values[300]) and loss.values[301] == math.inf and loss.steps[-2] == -5


def test_a_short_tag_in_the_last_record_after_long_ones(tmp_path):
    events = [tbw.scalar("a_rather_long_tag_name/for_the_window", 1.0, 1), tbw.scalar("x", 2.0, 2)]
    assert_reads_like_tensorboard(tbw.write_event_file(tmp_path / "run", events))


def test_several_values_in_one_summary_are_each_kept_in_order(tmp_path):
    events = [tbw.scalars([("loss", step * 1.0), ("acc", -step * 1.0), ("loss", step + 0.5)], step) for step in range(50)]
    path = tbw.write_event_file(tmp_path / "run", events)
    assert_reads_like_tensorboard(path)
    loss = points_of(tb.read(path))["loss"]
    assert loss[1][:4].tolist() == [0.0, 0.5, 1.0, 1.5]


def test_tf2_tensor_scalars_of_every_number_type_match_event_accumulator(tmp_path):
    import struct

    events = [tbw.tensor_scalar("epoch_loss", 1.0 / (step + 1), step, metadata=step == 0) for step in range(40)]
    typed = {
        "float_val": tbw.rank0_tensor(1, float_val=[0.25]),
        "float_content": tbw.rank0_tensor(1, tensor_content=struct.pack("<f", math.nan)),
        "double_val": tbw.rank0_tensor(2, double_val=[1e300]),
        "double_content": tbw.rank0_tensor(2, tensor_content=struct.pack("<d", -2.5)),
        "half_val": tbw.rank0_tensor(19, half_val=[0x3C00]),
        "half_content": tbw.rank0_tensor(19, tensor_content=np.float16(65504).tobytes()),
        "int_val": tbw.rank0_tensor(3, int_val=[-7]),
        "int_content": tbw.rank0_tensor(3, tensor_content=struct.pack("<i", 2**31 - 1)),
        "int64_val": tbw.rank0_tensor(9, int64_val=[-(2**40)]),
        "int64_content": tbw.rank0_tensor(9, tensor_content=struct.pack("<q", 2**53)),
    }
    for step in range(3):
        for tag, tensor in typed.items():
            events.append(tbw.tensor_event(tag, tensor, step, "scalars" if step == 0 else None))
    events.append(tbw.tensor_event("no_plugin_yet", tbw.rank0_tensor(1, float_val=[1.0]), 0))  # not a scalar: no metadata at all
    path = tbw.write_event_file(tmp_path / "run", events)
    assert_reads_like_tensorboard(path)
    part = tb.read(path)
    assert len(points_of(part)["epoch_loss"][0]) == 40
    assert part.meta["framework"] == "keras" and part.series[0].step_unit == "epoch"


def test_a_long_tf2_run_is_read_in_bulk_exactly_as_the_walker_reads_it(tmp_path):
    """Beyond the first chunk the bulk path reads TF2 scalars and skips histograms it knows the plugins of."""
    events = []
    for step in range(700):
        events.append(tbw.tensor_scalar("batch_loss", 2.0 / (step + 1), step, metadata=step == 0))
        events.append(tbw.tensor_scalar("epoch_like_keras", step * 0.5, step, metadata=True))  # Keras repeats metadata
        events.append(tbw.tensor_event("double", tbw.rank0_tensor(2, double_val=[step / 3]), step, "scalars" if step == 0 else None))
        if step % 10 == 0:
            events += [tbw.tf2_histogram("kernel", step, metadata=step == 0), tbw.histogram("old_histo", step), tbw.image("sample", step)]
        if step == 500:  # a tag first seen late, in a big chunk
            events.append(tbw.tensor_scalar("late", 1.0, step))
    path = tbw.write_event_file(tmp_path / "run", events)
    assert_reads_like_tensorboard(path)
    part = tb.read(path)
    assert [len(series) for series in part.series] == [700, 700, 700, 1]


def test_tensor_tagged_scalar_that_is_not_a_scalar_is_skipped_with_a_warning(tmp_path):
    vector = tbw.TensorProto(dtype=1, tensor_shape={"dim": [{"size": 3}]}, float_val=[1.0, 2.0, 3.0])
    events = [tbw.tensor_event("weights", vector, 0, "scalars"), tbw.tensor_event("weights", vector, 1), tbw.tensor_scalar("loss", 1.0, 0)]
    part = tb.read(tbw.write_event_file(tmp_path / "run", events))
    assert [series.name for series in part.series] == ["loss"]
    assert part.warnings == ["tag 'weights': 2 scalar tensor points skipped (a tensor of rank 1, not a scalar)"]


def test_histograms_images_and_graphs_mixed_in_are_skipped_not_read(tmp_path):
    events = [Event(wall_time=1.0, graph_def=b"\x0a\x03abc" * 1000)]
    for step in range(60):
        events += [tbw.scalar("loss", 2.0 - step / 60, step), tbw.histogram("layer1/weights", step), tbw.tf2_histogram("layer2/kernel", step, metadata=step == 0)]
        if step % 20 == 0:
            events += [tbw.image("inputs", step), tbw.tensor_scalar("val_loss", 1.0 + step, step, metadata=step == 0)]
    path = tbw.write_event_file(tmp_path / "run", events)
    assert_reads_like_tensorboard(path)
    part = tb.read(path)
    assert [series.name for series in part.series] == ["loss", "val_loss"]
    assert part.warnings == [] and "framework" not in part.meta


def test_points_stay_in_file_order_and_locations_are_record_indices(tmp_path):
    events = [tbw.scalar("loss", 1.0, 10), tbw.scalar("loss", 2.0, 5), tbw.scalar("acc", 0.5, 7), tbw.scalar("loss", 3.0, 6)]
    part = tb.read(tbw.write_event_file(tmp_path / "run", events))
    loss = part.series[0]
    assert loss.steps.tolist() == [10, 5, 6] and loss.locations.tolist() == [1, 2, 4]
    assert part.series[1].locations.tolist() == [3]


# ----------------------------------------------------------------------------- restarts and rewinds


def restarted_run(tmp_path: Path) -> Path:
    """Steps 0..99, a crash, a restart from the step-60 checkpoint logging loss and lr up to 120."""
    events = [tbw.start(0)]
    for step in range(100):
        events += [tbw.scalar("loss", 1.0 / (step + 1), step), tbw.scalar("lr", 0.1, step)]
    events.append(tbw.start(60))
    for step in range(60, 121):
        events += [tbw.scalar("loss", 2.0 / (step + 1), step), tbw.scalar("lr", 0.05, step)]
    return tbw.write_event_file(tmp_path / "run", events)


def test_restart_keeps_every_point_in_file_order_and_says_where_it_restarted(tmp_path):
    path = restarted_run(tmp_path)
    assert_reads_like_tensorboard(path)
    part = tb.read(path)
    assert len(part.series[0]) == 161
    assert [(event.kind, event.step) for event in part.events] == [("restart", 60)]


def test_a_session_start_is_a_restart_only_after_data_or_from_a_checkpoint(tmp_path):
    fresh = tb.read(tbw.write_event_file(tmp_path / "fresh", [tbw.start(0), tbw.scalar("loss", 1.0, 0), tbw.scalar("loss", 0.5, 1)]))
    resumed = tb.read(tbw.write_event_file(tmp_path / "resumed", [tbw.start(5000), tbw.scalar("loss", 0.4, 5000)]))
    assert fresh.events == []
    assert [(event.kind, event.step, event.line) for event in resumed.events] == [("restart", 5000, 1)]


def test_loader_resolves_a_restart_as_tensorboard_purges_it(tmp_path):
    path = restarted_run(tmp_path)
    purged = tbw.ea_scalars(path, purge=True)
    resolved = {series.name: resolve_rewinds(series)[0] for series in tb.read(path).series}
    assert_same_points({name: (series.steps, series.values, series.wall_time) for name, series in resolved.items()}, purged)
    assert len(purged["loss"][0]) == 121


def test_loader_keeps_what_tensorboard_purges_for_a_tag_not_logged_again_after_a_restart(tmp_path):
    """A known difference: EventAccumulator drops every tag's points at or after a START's step."""
    events = [tbw.start(0)] + [tbw.scalars([("loss", 1.0), ("grad_norm", 2.0)], step) for step in range(10)]
    events += [tbw.start(5)] + [tbw.scalar("loss", 0.5, step) for step in range(5, 8)]
    path = tbw.write_event_file(tmp_path / "run", events)
    purged = tbw.ea_scalars(path, purge=True)
    resolved = {series.name: resolve_rewinds(series)[0] for series in tb.read(path).series}
    assert purged["grad_norm"][0].tolist() == [0, 1, 2, 3, 4]
    assert resolved["grad_norm"].steps.tolist() == list(range(10))
    assert resolved["loss"].steps.tolist() == purged["loss"][0].tolist() == list(range(8))


def test_loader_resolves_rewinds_tensorboard_leaves_alone_in_a_versioned_file(tmp_path):
    """Known differences: with file_version 2 TensorBoard purges only at a SessionLog.START, and
    never tensors (TF2 scalars); the loader resolves every series' rewinds the same way."""
    events = [tbw.scalar("loss", float(index), step) for index, step in enumerate((0, 1, 2, 3, 1, 2))]
    events += [tbw.tensor_scalar("val_loss", 1.0, 0), tbw.tensor_scalar("val_loss", 2.0, 5, metadata=False), tbw.start(3)]
    events += [tbw.tensor_scalar("val_loss", 3.0, 4, metadata=False), tbw.scalar("loss", 6.0, 4)]
    path = tbw.write_event_file(tmp_path / "run", events)
    purged = tbw.ea_scalars(path, purge=True)
    resolved = {series.name: resolve_rewinds(series)[0] for series in tb.read(path).series}
    assert purged["loss"][0].tolist() == [0, 1, 2, 1, 2, 4]  # the START dropped step 3 only
    assert resolved["loss"].steps.tolist() == [0, 1, 2, 4] and resolved["loss"].values.tolist() == [0.0, 4.0, 5.0, 6.0]
    assert purged["val_loss"][0].tolist() == [0, 5, 4]
    assert resolved["val_loss"].steps.tolist() == [0, 4]


def test_out_of_order_steps_in_a_file_without_version_match_tensorboards_purge(tmp_path):
    """Old files have no file_version record: TensorBoard then purges per tag on a step that goes back."""
    steps = [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7]
    payloads = [tbw.scalar("loss", float(index), step).SerializeToString() for index, step in enumerate(steps)]
    path = tbw.write_records(tmp_path / "events.out.tfevents.legacy", payloads)
    assert_reads_like_tensorboard(path)
    resolved = resolve_rewinds(tb.read(path).series[0])[0]
    purged = tbw.ea_scalars(path, purge=True)["loss"]
    assert resolved.steps.tolist() == purged[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert resolved.values.tolist() == purged[1].tolist()


# ----------------------------------------------------------------------------------- protobuf rules


def raw_records_file(tmp_path: Path, payloads: list[bytes]) -> Path:
    version = Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
    return tbw.write_records(tmp_path / "events.out.tfevents.raw", [version, *payloads])


def length_delimited(number: int, payload: bytes) -> bytes:
    """One length-delimited field, written by hand: for messages repeated or merged on the wire."""
    key, length = number << 3 | 2, len(payload)
    varint = bytearray()
    while True:
        varint.append(length & 0x7F | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    return bytes([key]) + bytes(varint) + payload


def merged_value_event(step: int, *parts: Value) -> bytes:
    """An Event whose one Summary.Value is several Value messages back to back, which protobuf merges."""
    value = b"".join(part.SerializeToString() for part in parts)
    return Event(step=step, wall_time=2.0).SerializeToString() + length_delimited(5, length_delimited(1, value))


def test_wire_rules_merge_last_field_wins_and_oneof_match_protobuf(tmp_path):
    def event(**fields) -> bytes:
        return Event(**fields).SerializeToString()

    def value(**fields) -> Summary:
        return Summary(value=[Value(**fields)])

    scalars_plugin = {"plugin_data": {"plugin_name": "scalars"}}
    payloads = [
        event(step=1, summary=value(tag="a", simple_value=1.0)) + event(summary=value(tag="b", simple_value=2.0)),  # summaries merge
        event(step=2, summary=value(tag="a", simple_value=3.0)) + event(file_version="x") + event(summary=value(tag="b", simple_value=4.0)),  # oneof switched
        event(step=3, wall_time=5.0) + event(step=4, summary=value(tag="a", simple_value=5.0)) + event(wall_time=9.0),  # last step and wall time win
        merged_value_event(5, Value(tag="a", simple_value=6.0), Value(histo={"min": 1.0})),  # value oneof: histo after simple_value
        merged_value_event(6, Value(tag="a", histo={"min": 1.0}), Value(simple_value=7.0)),  # simple_value after histo
        merged_value_event(7, Value(tag="zz", simple_value=7.5), Value(tag="a")),  # the last tag wins
        event(step=7, summary=value(tag="a", simple_value=8.0)) + b"\x98\x06\x01" + b"\xa2\x06\x02hi" + b"\xab\x06\x08\x01\xac\x06",  # unknown fields, a group
        b"\x10" + b"\xff" * 9 + b"\x01" + event(summary=value(tag="a", simple_value=9.0)),  # step -1 as a ten-byte varint
        b"\x10\x85\x80\x80\x00" + event(summary=value(tag="a", simple_value=10.0), wall_time=3.0),  # a step in a non-minimal varint
        event(step=8, summary=value(tag="a", simple_value=11.0, metadata=scalars_plugin)),
        event(step=9, summary=value(tag="t", tensor=tbw.rank0_tensor(1, float_val=[1.5]), metadata=scalars_plugin)),
        merged_value_event(10, Value(tag="t", tensor=tbw.TensorProto(dtype=2)), Value(tensor=tbw.TensorProto(double_val=[2.5]))),  # tensors merge
        merged_value_event(11, Value(tag="t", tensor=tbw.TensorProto(dtype=1, float_val=[1.0])), Value(tensor=tbw.TensorProto(tensor_content=b"\x00\x00\x40\x40"))),
        merged_value_event(12, Value(tag="u", tensor=tbw.TensorProto(dtype=1, float_val=[1.0])), Value(simple_value=1.25)),  # tensor replaced by simple_value
        merged_value_event(13, Value(tag="t", tensor=tbw.TensorProto(dtype=2, double_val=[1.0])), Value(histo={}), Value(tensor=tbw.TensorProto(float_val=[5.0]))),  # cleared, dtype lost
        event(step=14, summary=Summary(value=[Value(node_name="old_node", tensor=tbw.rank0_tensor(1, float_val=[4.0]))])),
    ]
    path = raw_records_file(tmp_path, payloads)
    assert_reads_like_tensorboard(path)
    part = tb.read(path)
    ours = points_of(part)
    assert ours["a"][0].tolist() == [1, 4, 6, 7, 7, -1, 5, 8] and ours["b"][0].tolist() == [1, 2]
    assert ours["t"][0].tolist() == [9, 10, 11] and ours["t"][1].tolist() == [1.5, 2.5, 3.0]
    assert ours["u"][1].tolist() == [1.25] and "zz" not in ours
    assert part.warnings == ["tag 't': 1 scalar tensor points skipped (dtype 0 is not a number type)"]


def test_packed_and_unpacked_repeated_numbers_are_both_read(tmp_path):
    metadata = {"plugin_data": {"plugin_name": "scalars"}}
    unpacked_float = b"\x08\x01\x12\x00" + b"\x2d" + np.float32(0.75).tobytes()  # dtype, empty shape, float_val unpacked
    unpacked_int64 = b"\x08\x09" + b"\x50" + b"\xf6\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # int64_val = -10 unpacked
    payloads = [
        Event(step=1, summary=Summary(value=[Value(tag="p", metadata=metadata)])).SerializeToString(),
        Event(step=2, summary=Summary(value=[Value(tag="p", tensor=tbw.TensorProto.FromString(unpacked_float))])).SerializeToString(),
        Event(step=3, summary=Summary(value=[Value(tag="p", tensor=tbw.TensorProto.FromString(unpacked_int64))])).SerializeToString(),
    ]
    raw_float = Event(step=4).SerializeToString() + b"\x2a" + bytes([len(b"\x0a\x0b\x0a\x01p\x42\x06" + unpacked_float[:6])]) + b"\x0a\x0b\x0a\x01p\x42\x06" + unpacked_float[:6]
    path = raw_records_file(tmp_path, payloads)
    assert_reads_like_tensorboard(path)
    assert points_of(tb.read(path))["p"][1].tolist() == [0.75, -10.0]
    assert tb._is_event(memoryview(raw_float), 0, len(raw_float))


def test_a_record_protobuf_would_reject_leaves_no_point_and_no_metadata(tmp_path):
    scalars_plugin = {"plugin_data": {"plugin_name": "scalars"}}
    good = Value(tag="a", simple_value=1.0).SerializeToString()
    broken = Value(tag="t", metadata=scalars_plugin).SerializeToString() + length_delimited(8, b"\x08\x01\x0f")  # wire type 7
    payloads = [
        Event(step=1, wall_time=1.0).SerializeToString() + length_delimited(5, length_delimited(1, good) + length_delimited(1, broken)),
        Event(step=2, summary=Summary(value=[Value(tag="t", tensor=tbw.rank0_tensor(1, float_val=[2.0]))])).SerializeToString(),
        Event(step=3, summary=Summary(value=[Value(tag="a", simple_value=3.0)])).SerializeToString(),
    ]
    path = raw_records_file(tmp_path, payloads)
    part = tb.read(path)
    assert [(series.name, series.steps.tolist()) for series in part.series] == [("a", [3])]
    assert part.warnings == [f"record 1 at byte {record_starts(path)[1]}: not a valid Event (unexpected wire type 7 in field 1); record skipped"]


def test_a_tag_that_is_not_utf8_is_read_with_a_replacement_character(tmp_path):
    payload = Event(step=1, summary=Summary(value=[Value(tag="ab", simple_value=1.0)])).SerializeToString().replace(b"ab", b"a\xff")
    part = tb.read(raw_records_file(tmp_path, [payload]))
    assert [(series.name, series.values.tolist()) for series in part.series] == [("a\ufffd", [1.0])]


# ------------------------------------------------------------------------------------ damaged files


def scalar_file(tmp_path: Path, count: int = 200) -> Path:
    return tbw.write_event_file(tmp_path / "run", [tbw.scalar("loss", 1.0 / (step + 1), step) for step in range(count)])


def record_starts(path: Path) -> list[int]:
    data = path.read_bytes()
    starts, position = [], 0
    while position < len(data):
        starts.append(position)
        position += 16 + int.from_bytes(data[position : position + 8], "little")
    return starts


@pytest.mark.parametrize("cut", [1, 8, 11, 12, 13, 20, -1])
def test_a_truncated_last_record_keeps_every_complete_record(tmp_path, cut):
    whole = scalar_file(tmp_path)
    last = record_starts(whole)[-1]
    end = len(whole.read_bytes()) + cut if cut < 0 else last + cut
    path = tmp_path / "events.out.tfevents.cut"
    path.write_bytes(whole.read_bytes()[:end])
    part = tb.read(path)
    assert_same_points(points_of(part), tbw.ea_scalars(path))
    assert len(part.series[0]) == 199
    assert part.warnings == [f"truncated at byte {end} (last record incomplete)"]
    assert [(event.kind, event.step, event.line) for event in part.events] == [("truncated", 198, 200)]


def test_a_file_cut_between_records_is_whole(tmp_path):
    whole = scalar_file(tmp_path)
    path = tmp_path / "events.out.tfevents.cut"
    path.write_bytes(whole.read_bytes()[: record_starts(whole)[-1]])
    part = tb.read(path)
    assert len(part.series[0]) == 199 and part.warnings == [] and part.events == []


def flip_bit(path: Path, offset: int, target: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    target.write_bytes(bytes(data))
    return target


def test_a_flipped_bit_in_a_payload_loses_that_record_only(tmp_path):
    whole = scalar_file(tmp_path)
    record = 120
    offset = record_starts(whole)[record]
    value_byte = record_starts(whole)[record + 1] - 4 - 2  # inside the float, just before the data checksum
    path = flip_bit(whole, value_byte, tmp_path / "events.out.tfevents.flipped")
    part = tb.read(path)
    tensorboard = tbw.ea_scalars(path)["loss"]
    ours = points_of(part)["loss"]
    assert len(tensorboard[0]) == record - 1  # EventAccumulator stops at the bad record
    assert ours[0].tolist() == [step for step in range(200) if step != record - 1]
    assert np.array_equal(ours[1][: record - 1], tensorboard[1])
    assert part.warnings == [f"record {record} at byte {offset}: data checksum mismatch; record skipped"]
    assert [(event.kind, event.step, event.line) for event in part.events] == [("corrupt", record - 2, record)]
    unchecked = points_of(tb.read(path, verify_crc=False))["loss"]
    assert len(unchecked[0]) == 200 and unchecked[1][record - 1] != 1.0 / record
    assert np.array_equal(np.delete(unchecked[1], record - 1), ours[1])


def test_a_flipped_bit_in_a_length_loses_no_point(tmp_path):
    whole = scalar_file(tmp_path)
    offset = record_starts(whole)[150]
    path = flip_bit(whole, offset + 1, tmp_path / "events.out.tfevents.flipped")
    part = tb.read(path)
    assert len(tbw.ea_scalars(path)["loss"][0]) == 149  # EventAccumulator stops at the damaged length
    assert_same_points(points_of(part), points_of(tb.read(whole)))  # the next record is found by its checksums
    assert part.warnings == [f"record 150 at byte {offset}: length checksum mismatch, but its data checksum holds up to the next intact record; read"]
    assert part.events == []  # nothing was lost, so nothing for the integrity rules


def test_many_bad_records_are_summarised_not_listed(tmp_path):
    whole = scalar_file(tmp_path)
    data = bytearray(whole.read_bytes())
    for start in record_starts(whole)[1:41]:
        data[start + 12 + 15] ^= 0x01
    path = tmp_path / "events.out.tfevents.flipped"
    path.write_bytes(bytes(data))
    part = tb.read(path)
    assert len(part.series[0]) == 160
    assert len(part.warnings) == tb.MAX_RECORD_WARNINGS + 1 and part.warnings[-1] == "... and 30 more records skipped (checksum)"


def damaged_copy(whole: Path, flips: list[int], name: str) -> Path:
    """A copy of an event file with one bit flipped at each offset."""
    data = bytearray(whole.read_bytes())
    for offset in flips:
        data[offset] ^= 0x01
    path = whole.parent.parent / name / whole.name
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    return path


def test_many_damaged_lengths_whose_records_are_read_are_summarised_not_listed(tmp_path):
    whole = scalar_file(tmp_path, count=1200)
    starts = record_starts(whole)
    damaged = list(range(1, 1001, 2))  # 500 records, none next to another: each is framed by its data checksum
    path = damaged_copy(whole, [starts[record] + 8 for record in damaged], "lengths")  # the length's masked CRC32C
    part = tb.read(path)
    assert_same_points(points_of(part), points_of(tb.read(whole)))
    listed = [f"record {record} at byte {starts[record]}: length checksum mismatch, but its data checksum holds up to the next intact record; read" for record in damaged[: tb.MAX_RECORD_WARNINGS]]
    assert part.warnings == [*listed, "... and 490 more records read despite a length checksum mismatch"]
    assert part.events == []  # nothing was lost
    unchecked = tb.read(path, verify_crc=False)  # lengths unchecked: the damage is not even seen
    assert unchecked.warnings == [] and unchecked.events == []
    assert_same_points(points_of(unchecked), points_of(part))


def test_every_kind_of_record_damage_is_capped_on_its_own(tmp_path):
    whole = scalar_file(tmp_path, count=3000)
    starts = record_starts(whole)
    read, skipped, corrupt = range(1, 1001, 2), range(1001, 2001, 2), range(2001, 3001, 2)  # 500 of each, none adjacent
    flips = [starts[record] + 8 for record in read]  # length checksum only
    flips += [offset for record in skipped for offset in (starts[record] + 8, starts[record] + 12 + 3)]  # and the data
    flips += [starts[record] + 12 + 3 for record in corrupt]  # data only
    part = tb.read(damaged_copy(whole, flips, "mixed"))
    assert sum(len(series) for series in part.series) == 3000 - 1000
    assert len(part.warnings) == 3 * (tb.MAX_RECORD_WARNINGS + 1)
    assert part.warnings[-3:] == ["... and 490 more records read despite a length checksum mismatch", "... and 490 more records skipped (length)", "... and 490 more records skipped (checksum)"]
    assert len(part.events) == 2 * tb.MAX_RECORD_WARNINGS  # only lost records are integrity events


def test_a_damaged_first_length_reads_like_an_intact_file_and_says_so_once(tmp_path):
    whole = scalar_file(tmp_path)
    path = damaged_copy(whole, [8], "first")  # the file_version record's length checksum
    part = tb.read(path)
    assert_same_points(points_of(part), points_of(tb.read(whole)))
    assert part.warnings == ["record 0 at byte 0: length checksum mismatch, but its data checksum holds up to the next intact record; read"]
    assert part.events == []
    with pytest.raises(ReadError, match="first record's length checksum does not match"):
        tb.read(path, verify_crc=False)  # unchecked, nothing says this is an event file
    both = tb.read(damaged_copy(whole, [8, 12 + 3], "first_and_data"))  # its data too: the record is skipped
    assert_same_points(points_of(both), points_of(tb.read(whole)))
    assert both.warnings == [f"record 0 at byte 0: length checksum mismatch; {record_starts(whole)[1]} bytes skipped, reading resumed at byte {record_starts(whole)[1]}"]


def test_without_crc32c_checksums_are_skipped_with_a_warning(tmp_path, monkeypatch):
    whole = scalar_file(tmp_path)
    path = flip_bit(whole, record_starts(whole)[5] + 12 + 2, tmp_path / "events.out.tfevents.flipped")
    monkeypatch.setitem(sys.modules, "crc32c", None)
    part = tb.read(path)
    assert part.warnings[0].startswith("crc32c is not installed")
    assert len(part.series[0]) == 200


def test_an_empty_event_file_is_claimed_and_reported_as_unreadable(tmp_path):
    path = tmp_path / "events.out.tfevents.123.host"
    path.write_bytes(b"")
    assert tb.sniff(path, b"")
    with pytest.raises(ReadError, match="empty file"):
        tb.read(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"epoch,loss\n0,1.5\n1,1.2\n", "first record's length checksum does not match"),
        (b"\x00" * 64, "first record's length checksum does not match"),
        (b"tiny", "shorter than one record header"),
    ],
)
def test_a_file_named_like_an_event_file_that_is_not_one_is_refused(tmp_path, content, reason):
    path = tmp_path / "events.out.tfevents.123.host"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        tb.read(path)


def test_a_tfrecord_of_something_else_is_refused(tmp_path):
    from tensorboard.compat.proto import tensor_pb2

    path = tbw.write_records(tmp_path / "events.out.tfevents.dataset", [b"\x0a\x04\x0a\x02hi", tensor_pb2.TensorProto(dtype=1).SerializeToString()])
    with pytest.raises(ReadError, match="records are not Events"):
        tb.read(path)


# ---------------------------------------------------------------------------------------- sniffing


def test_sniff_knows_event_files_by_content_as_well_as_by_name(tmp_path):
    data = scalar_file(tmp_path).read_bytes()
    assert tb.sniff(Path("renamed.bin"), data[:65536])
    assert tb.sniff(Path("renamed.bin"), data[:20])
    assert not tb.sniff(Path("metrics.csv"), b"epoch,loss\n0,1.5\n")
    assert not tb.sniff(Path("renamed.bin"), data[:5])
    damaged = bytearray(data)
    damaged[14] ^= 1
    assert not tb.sniff(Path("renamed.bin"), bytes(damaged))
    assert reader_for(Path("renamed.bin"), data[:65536]) is tb


# ---------------------------------------------------------------------------------------- framing


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 40), min_size=1, max_size=20), st.integers(1, 400)), min_size=1, max_size=6), st.integers(0, 30))
@example([([30, 31, 35], 3000), ([8], 700), ([5, 9] * 40, 20)], 5)
def test_framing_by_guessed_cycles_finds_exactly_the_records_one_by_one_framing_finds(runs, cut):
    """Record sizes in repeating cycles with breaks, and a cut tail: guessing never changes the framing."""
    data = tbw.framed([bytes(size) for cycle, repeats in runs for _ in range(repeats) for size in cycle])
    file = tb._MappedFile(data[: len(data) - cut])
    starts, end = tb._frame(file)
    one_by_one, one_by_one_end, _ = tb._frame_loop(file.view, file.size, 0)
    assert starts.tolist() == one_by_one and end == one_by_one_end
    file.release()


# ------------------------------------------------------------------------------------------ checksums


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=20))
def test_bulk_length_checksums_agree_with_crc32c(lengths):
    import crc32c

    stored = np.array([tb._masked(crc32c.crc32c(n.to_bytes(8, "little"))) for n in lengths], dtype=np.uint32)
    as_words = np.array(lengths, dtype=np.uint64)
    assert tb._lengths_intact(as_words, stored).all()
    assert not tb._lengths_intact(as_words ^ np.uint64(1 << 29), stored).any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_gives_a_reading_or_a_read_error_never_a_crash(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    events = [tbw.scalar("loss", 1.0, 1), tbw.tensor_scalar("val", 2.0, 1), tbw.histogram("h", 2, buckets=3), tbw.scalars([("a", 1.0), ("b", 2.0)], 3)]
    original = tbw.write_event_file(folder / "run", events).read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    path = folder / "events.out.tfevents.fuzz"
    path.write_bytes(bytes(damaged))
    for verify_crc in (True, False):
        try:
            part = tb.read(path, verify_crc=verify_crc)
        except ReadError:
            continue
        assert all(len(series.steps) == len(series.values) == len(series.locations) for series in part.series)
