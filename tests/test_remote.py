"""Remote logdirs through fsspec: an S3 bucket on a local moto server, memory:// and file:// URLs.

The same tree of real logs (the sample runs, an event file from tensorboard's own writer, an MLflow
file store, real third-party logs when ../shared/realworld is there, a checkpoint and notes beside
them) is analysed from disk and from each URL: the diagnoses must be the same, named by the URL.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from nandoctor.api import run_analysis
from nandoctor.cli import schema_text
from nandoctor.remote import failure_reason, is_url, missing_backend

from .conftest import REALWORLD, REPO
from .readers import tb_writers as tbw
from .readers.test_mlflow import mlruns_with_two_runs

SCHEMA = json.loads(schema_text())
BUCKET = "nandoctor-runs"
STEPS = 3000  # enough scalar records that the event file is larger than the head sniffed first


# ---------------------------------------------------------------- the tree of real logs


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("remote") / "tree"
    shutil.copytree(REPO / "sample_logs", root / "sample_logs", ignore=shutil.ignore_patterns("README.md"))
    write_diverging_event_file(root / "torch-run")
    (root / "torch-run" / "checkpoints").mkdir()
    (root / "torch-run" / "checkpoints" / "last.ckpt").write_bytes(np.random.default_rng(0).bytes(300_000))
    (root / "torch-run" / "notes.md").write_text("# lr 0.5 run\n\nloss went up after warm-up\n", encoding="utf-8")
    mlruns_with_two_runs(root / "mlruns")
    write_console_log_that_crashed(root / "crashed-run")
    if REALWORLD.is_dir():
        caffe_logs = sorted((REALWORLD / "caffe").glob("*.log"), key=lambda path: path.stat().st_size)
        shutil.copy(caffe_logs[-1], root / "caffe-real.log")  # the largest: fetched past its head
        keras = next((REALWORLD / "tfevents").glob("016-*"), None)
        if keras is not None:
            shutil.copytree(keras, root / "keras-real")
    return root


def write_diverging_event_file(folder: Path) -> Path:
    """A PyTorch-style run written by tensorboard's EventFileWriter: loss falls, then grows to NaN."""
    events = []
    for step in range(STEPS):
        loss = 2.3 * 0.999**step if step < 2000 else 2.3 * 1.01 ** (step - 2000)
        events.append(tbw.scalars([("train/loss", float("nan") if step >= 2800 else loss), ("lr", 0.5)], step))
    path = tbw.write_event_file(folder, events)
    assert path.stat().st_size > 64 * 1024
    return path


def write_console_log_that_crashed(folder: Path) -> Path:
    """A job's console log longer than the head sniffed first, with no metric in it: it loaded data
    shards, then a DataLoader worker was killed. Only the log's tail names the crash."""
    folder.mkdir(parents=True)
    shards = "".join(f"[rank0] loading shard {shard:05d} of 20000 from data/train-{shard:05d}.arrow (2048 examples)\n" for shard in range(1500))
    crash = (
        "Traceback (most recent call last):\n"
        '  File "train.py", line 212, in <module>\n'
        "    main()\n"
        '  File "train.py", line 180, in main\n'
        "    batch = next(loader)\n"
        "RuntimeError: DataLoader worker (pid 4121) is killed by signal: Killed.\n"
    )
    path = folder / "console.log"
    path.write_text(shards + crash, encoding="utf-8")
    assert path.stat().st_size > 64 * 1024
    return path


def local_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def json_report(target) -> dict:
    from nandoctor.report.json import render

    report = json.loads(render(run_analysis(target, jobs=1), fail_on="error"))
    jsonschema.validate(report, SCHEMA)
    return report


def comparable(report: dict) -> dict:
    """The report less what differs between two analyses of the same files: the time they took."""
    report = dict(report)
    report["summary"] = {key: value for key, value in report["summary"].items() if "second" not in key}
    return report


@pytest.fixture(scope="module")
def local_report(tree) -> str:
    """The JSON report of the tree read from disk, made once for every URL compared with it."""
    return json.dumps(comparable(json_report(str(tree))))


def expected_from_local(local_report: str, tree: Path, url: str) -> dict:
    """The report of the local tree with its path written as the URL: what the URL must give."""
    return json.loads(local_report.replace(json.dumps(str(tree))[1:-1], url))


def assert_same_diagnosis(report: dict, expected: dict, url: str) -> None:
    assert [run["id"] for run in report["runs"]] == [run["id"] for run in expected["runs"]]
    assert [run["status"] for run in report["runs"]] == [run["status"] for run in expected["runs"]]
    assert comparable(report) == expected
    assert all(run["path"].startswith(url) for run in report["runs"])
    text = json.dumps(report).replace(url, "URL")  # a file:// URL may itself be below the temp folder
    assert "nandoctor-remote-" not in text and tempfile.gettempdir() + os.sep not in text


# ---------------------------------------------------------------- S3 on a local moto server


@pytest.fixture(scope="module")
def s3(tree, tmp_path_factory):
    """A moto S3 server on 127.0.0.1 holding the tree, and the environment a user would set for it."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    empty = tmp_path_factory.mktemp("aws") / "none"
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask a cloud metadata address for credentials
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        for path in local_files(tree):
            client.upload_file(str(path), BUCKET, "tree/" + path.relative_to(tree).as_posix())
        yield client, environment
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bucket_listing(client) -> list[tuple[str, int, str]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return sorted((item["Key"], item["Size"], item["ETag"]) for page in pages for item in page.get("Contents", []))


def nandoctor(*args: str, environment: dict, python: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", python, *args] if python else [sys.executable, "-m", "nandoctor", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, **environment}, timeout=60)


def test_an_s3_url_gets_the_diagnosis_of_the_same_files_on_disk_and_writes_nothing(tree, local_report, s3):
    client, _ = s3
    url = f"s3://{BUCKET}/tree"
    before = bucket_listing(client)
    assert len(before) == len(local_files(tree))
    report = json_report(url)
    assert_same_diagnosis(report, expected_from_local(local_report, tree, url), url)
    ids = {run["id"] for run in report["runs"]}
    assert {"sample_logs/tb-lr-too-high", "sample_logs/keras-tf2-overfitting", "torch-run"} <= ids
    assert len([run_id for run_id in ids if run_id.startswith("mlruns/")]) == 2  # meta.yaml beside metrics/ came along
    torch_run = next(run for run in report["runs"] if run["id"] == "torch-run")
    assert torch_run["status"] == "failed" and max(series["points"] for series in torch_run["series"]) == STEPS
    assert bucket_listing(client) == before


def test_the_cli_reads_an_s3_run_with_the_endpoint_from_the_environment(s3):
    _, environment = s3
    url = f"s3://{BUCKET}/tree/sample_logs/tb-lr-too-high"
    result = nandoctor("analyze", url, "--format", "json", environment=environment)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    (run,) = report["runs"]
    assert (run["id"], run["path"], run["status"]) == ("tb-lr-too-high", url, "failed")
    assert run["causes"][0]["id"] == "lr_too_high"
    assert run["sources"][0]["path"].startswith(url + "/events.out.tfevents.")


def test_a_run_folder_whose_long_console_log_ends_in_a_crash_names_it_from_s3_too(tree, s3):
    """Its log holds no metric and is longer than the head sniffed first: only its tail names the crash,
    so the tail is fetched too, and the URL gets the problem the folder on disk gets."""
    local = run_analysis([str(tree / "crashed-run")], jobs=1)
    assert [problem.message for problem in local.problems] == ["no metrics nandoctor reads: the log ends in a crash (RuntimeError: DataLoader worker (pid 4121) is killed by signal: Killed.)"]
    url = f"s3://{BUCKET}/tree/crashed-run"
    remote = run_analysis([url], jobs=1)
    assert [(problem.path, problem.message) for problem in remote.problems] == [(f"{url}/console.log", local.problems[0].message)]
    assert not remote.diagnoses


def test_one_s3_file_can_be_named(s3):
    url = f"s3://{BUCKET}/tree/sample_logs/lightning-sudden-nan/metrics.csv"
    (diagnosis,) = run_analysis(url).diagnoses
    assert (diagnosis.run.id, diagnosis.run.path, diagnosis.status) == ("metrics.csv", url, "failed")
    assert diagnosis.causes[0].id == "sudden_nan"


def test_a_missing_bucket_or_key_is_one_line_each_naming_the_url_and_exit_2(s3):
    _, environment = s3
    missing_bucket, missing_key = f"s3://no-such-bucket-{os.getpid()}/runs", f"s3://{BUCKET}/tree/no-such-run"
    result = nandoctor("analyze", missing_bucket, missing_key, environment=environment)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        f"nandoctor: {missing_bucket}: not found: The specified bucket does not exist",
        f"nandoctor: {missing_key}: not found (no such bucket, key or folder)",
    ]


@pytest.mark.parametrize("setting, reason", [
    ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no usable credentials (Unable to locate credentials)"),
    ({"AWS_ENDPOINT_URL": "closed port", "AWS_MAX_ATTEMPTS": "1"}, "cannot reach the storage endpoint (Could not connect to the endpoint URL"),
])
def test_no_credentials_or_no_endpoint_is_a_reason_not_a_traceback(s3, monkeypatch, setting, reason):
    import s3fs

    for key, value in setting.items():
        monkeypatch.setenv(key, f"http://127.0.0.1:{free_port()}" if value == "closed port" else value)
    s3fs.S3FileSystem.clear_instance_cache()  # a filesystem keeps the settings it was made with
    try:
        analysis = run_analysis(f"s3://{BUCKET}/tree/sample_logs/tb-healthy")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert analysis.diagnoses == []
    (problem,) = analysis.problems
    assert problem.path == f"s3://{BUCKET}/tree/sample_logs/tb-healthy" and problem.message.startswith(reason)
    assert "\n" not in str(problem)


def test_a_key_that_would_leave_the_copy_is_refused_and_the_rest_of_the_run_read(s3, tree):
    client, _ = s3
    client.put_object(Bucket=BUCKET, Key="escape/run/../../../escaped.csv", Body=b"step,loss\n1,2.0\n2,1.0\n3,0.5\n")
    for path in local_files(tree / "sample_logs" / "keras-csv-healthy"):
        client.upload_file(str(path), BUCKET, "escape/run/" + path.name)
    analysis = run_analysis(f"s3://{BUCKET}/escape")
    (diagnosis,) = analysis.diagnoses
    assert diagnosis.run.path == f"s3://{BUCKET}/escape/run" and diagnosis.status == "healthy"
    (problem,) = analysis.problems
    assert problem.path == f"s3://{BUCKET}/escape/run/../../../escaped.csv" and "cannot be a local file name" in problem.message


def test_a_missing_backend_names_the_extra_to_install(s3):
    """The real error path: `import s3fs` fails in the process, as it does without the extra."""
    _, environment = s3
    url = f"s3://{BUCKET}/tree/sample_logs/tb-healthy"
    program = "import sys; sys.modules['s3fs'] = None; from nandoctor.cli import main; sys.argv = ['nandoctor', *sys.argv[1:]]; main()"
    result = nandoctor("analyze", url, environment=environment, python=program)
    assert result.returncode == 2
    assert result.stderr == f"nandoctor: {url}: s3:// needs the s3 extra: pip install 'nandoctor[s3]'\n"


def test_a_protocol_whose_backend_is_not_installed(tmp_path):
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    analysis = run_analysis(["gs://some-bucket/runs", str(REPO / "sample_logs" / "tb-healthy")])
    assert [str(problem) for problem in analysis.problems] == ["gs://some-bucket/runs: gs:// needs the gcs extra: pip install 'nandoctor[gcs]'"]
    assert [diagnosis.run.id for diagnosis in analysis.diagnoses] == ["tb-healthy"]  # the local run is still read


# ---------------------------------------------------------------- memory:// and file://, no server


def test_a_memory_url_gets_the_diagnosis_of_the_same_files_on_disk(tree, local_report):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    for path in local_files(tree):
        memory.pipe_file(f"/nandoctor-test/tree/{path.relative_to(tree).as_posix()}", path.read_bytes())
    try:
        url = "memory://nandoctor-test/tree"
        assert_same_diagnosis(json_report(url), expected_from_local(local_report, tree, url), url)
    finally:
        memory.rm("/nandoctor-test", recursive=True)


def test_a_file_url_is_read_like_the_folder_and_no_copy_is_left_behind(tree, local_report):
    pytest.importorskip("fsspec")
    url = "file://" + str(tree)
    before = set(Path(tempfile.gettempdir()).glob("nandoctor-remote-*"))
    assert_same_diagnosis(json_report(url), expected_from_local(local_report, tree, url), url)
    assert set(Path(tempfile.gettempdir()).glob("nandoctor-remote-*")) == before


# ---------------------------------------------------------------- the small pure parts


def test_urls_are_told_from_paths():
    assert is_url("s3://bucket/run") and is_url("memory://x") and is_url("abfss://c@a.dfs.core.windows.net/p")
    assert not is_url("runs/exp1") and not is_url("C:\\runs") and not is_url("c://runs") and not is_url("./s3://x")


def test_reasons_are_a_few_words():
    assert failure_reason(FileNotFoundError("The specified bucket does not exist")) == "not found: The specified bucket does not exist"
    assert failure_reason(FileNotFoundError("bucket/key")) == "not found (no such bucket, key or folder)"
    assert failure_reason(PermissionError("Access Denied")) == "access denied: Access Denied"
    assert failure_reason(ConnectionRefusedError("refused\nby peer")) == "cannot reach the storage endpoint (refused\\nby peer)"
    assert missing_backend("az") == "az:// needs the azure extra: pip install 'nandoctor[azure]'"
