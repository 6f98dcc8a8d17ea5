"""LOG001 truncated-file: an event file ends in a cut record."""

from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay


def _killed_writer():
    # The job was OOM-killed while TensorBoard wrote: the last record of the event file is incomplete.
    event = RunEvent("truncated", "record at byte 18432 is cut short (expected 71 bytes, 12 left)", step=4200, source="train/events.out.tfevents.1690485351.host")
    return make_run(list(noisy_decay(420)), steps=[10 * i for i in range(420)], events=[event])


def _two_files_cut():
    # Both the train and the validation event files were copied while training ran.
    events = [
        RunEvent("truncated", "incomplete record header at byte 9000", source="train/events.out.tfevents.1"),
        RunEvent("truncated", "incomplete record at byte 2100", source="validation/events.out.tfevents.2"),
    ]
    return make_run(list(noisy_decay(30)), events=events)


def _restart_only():
    return make_run(list(noisy_decay(200)), events=[RunEvent("restart", "a second process starts at iteration 0", step=0, source="caffe.log", line=5000)])


def _no_events():
    return make_run(list(noisy_decay(200)))


FIRES = [
    Case("a TensorBoard file cut mid-record when the writer was killed", _killed_writer),
    Case("train and validation event files both cut", _two_files_cut),
]

QUIET = [
    Case("a restart event only", _restart_only),
    Case("a complete log with no events", _no_events),
]
