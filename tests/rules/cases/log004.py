"""LOG004 unreadable-part: a file of the run, or some records in it, could not be read."""

from nandoctor.load import rewind_event
from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay


def _unreadable_validation_file():
    # The validation/ event file of a Keras run could not be read at all.
    event = RunEvent("unreadable", "validation/events.out.tfevents.2: not an event file (bad record length)", source="validation/events.out.tfevents.2")
    return make_run(list(noisy_decay(20)), events=[event])


def _corrupt_records():
    # Three records with a bad CRC in one event file were skipped.
    events = [RunEvent("corrupt", f"record {index} fails its data checksum", step=100 * index, source="events.out.tfevents.9", line=index) for index in (41, 42, 97)]
    return make_run(list(noisy_decay(300)), events=events)


def _truncated_only():
    return make_run(list(noisy_decay(100)), events=[RunEvent("truncated", "cut at byte 5", source="events.out.tfevents.3")])


def _rewind_only():
    return make_run(list(noisy_decay(100)), events=[rewind_event("loss", 40, 5)])


FIRES = [
    Case("the validation event file of the run cannot be read", _unreadable_validation_file),
    Case("three corrupt records skipped in one event file", _corrupt_records),
]

QUIET = [
    Case("a truncated file only (LOG001's business)", _truncated_only),
    Case("a rewind only", _rewind_only),
]
