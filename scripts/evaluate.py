"""`make eval`: score nandoctor's diagnosis against labelled runs nobody tuned it on.

Corpora: (1) the third-party logs in ../shared/realworld (MANIFEST.tsv, threads/MANIFEST.md,
papers/*/MANIFEST.tsv), (2) our own corpus of real training runs with injected causes (corpus/).
Prints per corpus a confusion table, top-1 and top-3 accuracy, per-cause precision and recall, and
the false-alarm rate on healthy runs. `unknown` and `ambiguous` labels are skipped; `unmapped` runs
(faulty, but with no label of ours) count as right when nandoctor says "not healthy".
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nandoctor.api import run_analysis  # noqa: E402

REALWORLD = REPO.parent / "shared" / "realworld"
CORPUS = REPO / "corpus"
SKIPPED_LABELS = {"unknown", "ambiguous"}
NOT_HEALTHY = "unmapped"


@dataclass(frozen=True)
class Labelled:
    corpus: str
    path: Path
    label: str


@dataclass(frozen=True)
class Outcome:
    item: Labelled
    predicted: tuple[str, ...]  # cause ids, best first
    read: bool
    status: str = "healthy"  # the run's status: healthy, warning or failed

    @property
    def top1(self) -> str:
        if self.predicted:
            return self.predicted[0]
        return "healthy" if self.status == "healthy" else "(no cause)"

    def correct(self, top: int) -> bool:
        # A healthy run must come out healthy: any warning or error is a false alarm.
        if self.item.label == NOT_HEALTHY:
            return self.status != "healthy"
        if self.item.label == "healthy":
            return self.status == "healthy"
        return self.item.label in self.predicted[:top]


def realworld_items(root: Path) -> list[Labelled]:
    items = []
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            items.append(Labelled("realworld", root / row["file"], row["label"].strip()))
    threads = root / "threads"
    table_row = re.compile(r"^\|\s*(\d{3}-[^|]+?)\s*\|.*\|\s*([a-z_]+)\s*\|\s*$")
    for line in (threads / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        match = table_row.match(line)
        if match:
            items.append(Labelled("threads", threads / match.group(1), match.group(2)))
    for manifest in sorted((root / "papers").glob("*/MANIFEST.tsv")):
        with open(manifest, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                items.append(Labelled("papers", manifest.parent / row["file"], row["our_label"].strip()))
    return [item for item in items if item.label not in SKIPPED_LABELS]


def corpus_items(root: Path) -> list[Labelled]:
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8") as handle:
        return [Labelled("corpus", root / row["path"], row["label"].strip()) for row in csv.DictReader(handle, delimiter="\t")]


def diagnose(item: Labelled) -> Outcome:
    analysis = run_analysis([str(item.path)])
    if not analysis.diagnoses:
        return Outcome(item, (), read=False)
    # A labelled path is one run; if discovery splits it, the most severe run speaks for it.
    worst = max(analysis.diagnoses, key=lambda diagnosis: (diagnosis.causes[0].score if diagnosis.causes else 0.0))
    return Outcome(item, tuple(cause.id for cause in worst.causes), read=True, status=worst.status)


def score(outcomes: list[Outcome]) -> dict:
    scored = [outcome for outcome in outcomes if outcome.read]
    healthy = [outcome for outcome in scored if outcome.item.label == "healthy"]
    labels = sorted({outcome.item.label for outcome in scored} | {outcome.top1 for outcome in scored})
    per_cause = {}
    for label in labels:
        if label in ("healthy", NOT_HEALTHY, "(no cause)"):
            continue
        true_positive = sum(1 for o in scored if o.item.label == label and o.top1 == label)
        predicted = sum(1 for o in scored if o.top1 == label)
        actual = sum(1 for o in scored if o.item.label == label)
        per_cause[label] = {
            "precision": true_positive / predicted if predicted else None,
            "recall": true_positive / actual if actual else None,
            "support": actual,
        }
    return {
        "runs": len(outcomes),
        "scored": len(scored),
        "unread": [str(o.item.path.name) for o in outcomes if not o.read],
        "top1": sum(o.correct(1) for o in scored) / len(scored) if scored else None,
        "top3": sum(o.correct(3) for o in scored) / len(scored) if scored else None,
        "healthy_runs": len(healthy),
        "healthy_false_alarm_rate": sum(1 for o in healthy if o.status != "healthy") / len(healthy) if healthy else None,
        "per_cause": per_cause,
        "confusion": confusion(scored),
    }


def confusion(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = defaultdict(Counter)
    for outcome in outcomes:
        table[outcome.item.label][outcome.top1] += 1
    return {label: dict(counts) for label, counts in sorted(table.items())}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def print_report(name: str, result: dict, outcomes: list[Outcome], verbose: bool) -> None:
    print(f"\n== {name}: {result['scored']} labelled runs scored ({len(result['unread'])} not readable yet) ==")
    if result["unread"]:
        print("  not read: " + ", ".join(result["unread"]))
    print(f"  top-1 {percent(result['top1'])}   top-3 {percent(result['top3'])}   healthy false alarms {percent(result['healthy_false_alarm_rate'])} of {result['healthy_runs']}")
    predicted_labels = sorted({p for row in result["confusion"].values() for p in row})
    width = max([len(label) for label in list(result["confusion"]) + predicted_labels] + [10])
    print("  confusion (rows: label, columns: nandoctor's first cause):")
    print("  " + " " * width + " " + " ".join(f"{label[:8]:>8}" for label in predicted_labels))
    for label, row in result["confusion"].items():
        print(f"  {label:<{width}} " + " ".join(f"{row.get(p, 0) or '.':>8}" for p in predicted_labels))
    print("  per cause (precision / recall / support):")
    for label, stats in result["per_cause"].items():
        print(f"    {label:<22} {percent(stats['precision']):>5} / {percent(stats['recall']):>5} / {stats['support']}")
    if verbose:
        for outcome in outcomes:
            if not outcome.read:
                print(f"    -- {outcome.item.label:<22} -> not read{'':<42} {outcome.item.path.name}")
                continue
            mark = "ok " if outcome.correct(1) else ("~3 " if outcome.correct(3) else "XX ")
            print(f"    {mark}{outcome.item.label:<22} -> {','.join(outcome.predicted[:3]) or outcome.status:<50} {outcome.item.path.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--realworld", type=Path, default=REALWORLD)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every run with its outcome")
    args = parser.parse_args(argv)
    corpora = {}
    if args.realworld.is_dir():
        corpora["realworld (third-party logs)"] = realworld_items(args.realworld)
    else:
        print(f"realworld corpus not found beside the checkout; skipped", file=sys.stderr)
    items = corpus_items(args.corpus)
    if items:
        corpora["corpus (our real training, injected causes)"] = items
    results = {}
    for name, corpus in corpora.items():
        outcomes = [diagnose(item) for item in corpus]
        results[name] = score(outcomes)
        if not args.json:
            print_report(name, results[name], outcomes, args.verbose)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
