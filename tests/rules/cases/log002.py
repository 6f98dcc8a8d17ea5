"""LOG002 restart-rewind: an info note on every restart; it says when only the last attempt is diagnosed."""

from nandoctor.load import rewind_event
from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay


def _appended_csv_runs():
    # Keras CSVLogger in append mode: four runs in one file; only the last 5 epochs survive of 24.
    events = [
        RunEvent("restart", "epoch counter resets to 0 at row 6", step=0, source="training_log.csv", line=7),
        rewind_event("loss", 0, 19, "training_log.csv"),
    ]
    return make_run(list(noisy_decay(5)), step_unit="epoch", events=events)


def _resume_from_old_checkpoint():
    # Resumed from a checkpoint 6000 steps back: 600 of 1000 logged points were superseded.
    events = [rewind_event("loss", 4000, 600, "events.out.tfevents.2")]
    return make_run(list(noisy_decay(400)), steps=[10 * i for i in range(400)], events=events)


def _short_resume():
    # A resume that re-logged the last 50 of 2000 points: normal, info only.
    events = [rewind_event("loss", 19500, 50, "events.out.tfevents.2")]
    return make_run(list(noisy_decay(2000)), steps=[10 * i for i in range(2000)], events=events)


def _caffe_second_process():
    # Intel Caffe log with a second process starting over; the reader reports a restart without counts.
    return make_run(list(noisy_decay(480)), events=[RunEvent("restart", "a second solver process starts at iteration 0", step=0, source="caffe.log", line=212)])


INFO_ONLY = True

FIRES = [
    Case("four Keras runs appended to one CSV: 19 of 24 points superseded", _appended_csv_runs),
    Case("resumed from an old checkpoint: 600 of 1000 points superseded", _resume_from_old_checkpoint),
    Case("a resume that re-logged 50 of 2000 points", _short_resume),
    Case("a Caffe log with a second process and no superseded counts", _caffe_second_process),
]

QUIET = [
    Case("a run that never restarted", lambda: make_run(list(noisy_decay(400)))),
    Case("a run whose only event is a truncated file", lambda: make_run(list(noisy_decay(50)), events=[RunEvent("truncated", "truncated at byte 812", source="events.out.tfevents.1")])),
]

