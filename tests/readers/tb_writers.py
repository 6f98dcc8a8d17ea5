"""Event files written at test time by tensorboard's own writer, and EventAccumulator's reading of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import RecordWriter

Event = event_pb2.Event
Summary = summary_pb2.Summary
Value = summary_pb2.Summary.Value
SessionLog = event_pb2.SessionLog
TensorProto = tensor_pb2.TensorProto


def write_event_file(folder: Path, events: list) -> Path:
    """One event file in a fresh folder, as a training job writes it (file_version record first)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for event in events:
        writer.add_event(event)
    writer.close()
    (path,) = folder.glob("*tfevents*")
    return path


def write_records(path: Path, payloads: list[bytes]) -> Path:
    """Raw payloads framed by tensorboard's RecordWriter: for Events no Python API would build."""
    with open(path, "wb") as handle:
        writer = RecordWriter(handle)
        for payload in payloads:
            writer.write(payload)
    return path


def framed(payloads: list[bytes]) -> bytes:
    """The bytes RecordWriter writes for these payloads; each distinct payload is framed once and
    reused, since its pure-Python checksums would make long streams slow to build."""
    import io

    records: dict[bytes, bytes] = {}
    for payload in set(payloads):
        buffer = io.BytesIO()
        RecordWriter(buffer).write(payload)
        records[payload] = buffer.getvalue()
    return b"".join(records[payload] for payload in payloads)


def scalar(tag: str, value: float, step: int, wall_time: float | None = None) -> Event:
    """A plain scalar, as PyTorch's SummaryWriter and TF1 write it (Value.simple_value)."""
    return Event(wall_time=1_600_000_000.0 + step if wall_time is None else wall_time, step=step, summary=Summary(value=[Value(tag=tag, simple_value=value)]))


def scalars(pairs: list[tuple[str, float]], step: int) -> Event:
    """Several simple values in one Summary (TF1 merged summaries)."""
    return Event(wall_time=1_600_000_000.0 + step, step=step, summary=Summary(value=[Value(tag=tag, simple_value=value) for tag, value in pairs]))


def tensor_scalar(tag: str, value: float, step: int, *, metadata: bool = True) -> Event:
    """A TF2 `tf.summary.scalar` point; like TF2's writer, only a tag's first point carries metadata."""
    summary = scalar_pb(tag, value)
    if not metadata:
        summary.value[0].ClearField("metadata")
    return Event(wall_time=1_600_000_000.0 + step, step=step, summary=summary)


def tensor_event(tag: str, tensor: TensorProto, step: int, plugin: str | None = None) -> Event:
    item = Value(tag=tag, tensor=tensor)
    if plugin is not None:
        item.metadata.plugin_data.plugin_name = plugin
    return Event(wall_time=1_600_000_000.0 + step, step=step, summary=Summary(value=[item]))


def rank0_tensor(dtype: int, **fields) -> TensorProto:
    return TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(), **fields)


def histogram(tag: str, step: int, buckets: int = 30) -> Event:
    """A TF1 histogram (Value.histo), its buckets filled so the payload is not trivial."""
    histo = summary_pb2.HistogramProto(min=-1.0, max=1.0, num=100.0, sum=0.5, sum_squares=3.0)
    histo.bucket_limit.extend(np.linspace(-1, 1, buckets).tolist())
    histo.bucket.extend(np.arange(buckets, dtype=float).tolist())
    return Event(wall_time=1_600_000_000.0 + step, step=step, summary=Summary(value=[Value(tag=tag, histo=histo)]))


def tf2_histogram(tag: str, step: int, metadata: bool = True) -> Event:
    """A TF2 histogram: a rank-2 float tensor under the `histograms` plugin."""
    data = np.arange(30, dtype=np.float64).reshape(10, 3)
    tensor = TensorProto(dtype=2, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=10), tensor_shape_pb2.TensorShapeProto.Dim(size=3)]), tensor_content=data.tobytes())
    return tensor_event(tag, tensor, step, "histograms" if metadata else None)


def image(tag: str, step: int) -> Event:
    encoded = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    return Event(wall_time=1_600_000_000.0 + step, step=step, summary=Summary(value=[Value(tag=tag, image=Summary.Image(height=16, width=16, colorspace=3, encoded_image_string=encoded))]))


def start(step: int) -> Event:
    return Event(wall_time=1_600_000_000.0 + step, step=step, session_log=SessionLog(status=SessionLog.START))


def ea_scalars(path: Path, *, purge: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """tag -> (steps, values, wall times) as EventAccumulator reads them, nothing sampled.

    Scalars are simple values plus the tensors of tags whose metadata names the `scalars` plugin
    (converted by make_ndarray, which must give one number). A file EventAccumulator cannot finish (a failed checksum, a cut
    record) keeps what it read before the error, as TensorBoard shows it.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=purge)
    try:
        accumulator.Reload()
    except errors.DataLossError:
        pass
    tags = accumulator.Tags()
    result = {}
    for tag in tags["scalars"]:
        items = accumulator.Scalars(tag)
        result[tag] = _columns([(item.step, item.value, item.wall_time) for item in items])
    for tag in tags["tensors"]:
        metadata = accumulator.summary_metadata.get(tag)
        if metadata is None or metadata.plugin_data.plugin_name != "scalars":
            continue
        rows = []
        for item in accumulator.Tensors(tag):
            try:
                rows.append((item.step, float(tensor_util.make_ndarray(item.tensor_proto).item()), item.wall_time))
            except (TypeError, ValueError):
                continue  # make_ndarray cannot make a number of it, so TensorBoard shows none
        result[tag] = _columns(rows)
    return result


def _columns(rows):
    steps = np.array([row[0] for row in rows], dtype=np.int64)
    values = np.array([row[1] for row in rows], dtype=np.float64)
    wall_times = np.array([row[2] for row in rows], dtype=np.float64)
    return steps, values, wall_times
