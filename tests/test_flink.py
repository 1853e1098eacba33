"""The pipeline on a real standalone Flink cluster, checked against the DirectRunner.

Starts, through pipeline.flink (what run_flink.sh runs), a Flink JobManager and TaskManager
on 127.0.0.1, Beam's Flink job server and a Python worker pool, runs the pipeline on a small
corpus of real footage there, and compares every output file with a DirectRunner run of the
same corpus. Flink (PyPI) and the job server (Maven Central) are downloaded on first use
into the cache (pipeline.flinkdist); without them the tests skip, except in CI.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest

from keypoints.corpus import SignKey
from pipeline import cli
from pipeline.flink.services import port_open
from pipeline.flink.session import flink_args, flink_session
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from tests.conftest import RUNNER_CORPUS_VIDEOS, build_corpus
from tests.support import group_alive, output_files, unwritten_records, video_records

pytestmark = [pytest.mark.flink, pytest.mark.slow]


def pipeline_args(corpus: Path, output: Path) -> list[str]:
    return [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers=01",
        "--splits=train",
        "--selected_signs_from=1",
        "--selected_signs_to=3",
    ]


@pytest.fixture(scope="module")
def flink_run(flink_parts, runner_corpus, tmp_path_factory):
    """One run on a fresh local cluster; every service is stopped when this returns."""
    output = tmp_path_factory.mktemp("flink-out")
    with flink_session(tmp_path_factory.mktemp("flink-work")) as session:
        outcome = run(session.args(pipeline_args(runner_corpus, output)))
        jobs = session.cluster.jobs()
    return output, outcome, jobs, session


@pytest.fixture(scope="module")
def direct_run(runner_corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("direct-out")
    return output, run(local_args(pipeline_args(runner_corpus, output), workers=2))


def test_flink_writes_the_same_npz_bytes_as_the_direct_runner(flink_run, direct_run):
    flink_files, direct_files = output_files(flink_run[0]), output_files(direct_run[0])
    assert sorted(flink_files) == ["01-train/0001.npz", "01-train/0002.npz"]
    assert flink_files == direct_files


def test_flink_reports_and_counters_match_the_direct_runner(flink_run, direct_run):
    (flink_output, flink_outcome, *_), (direct_output, direct_outcome) = flink_run, direct_run
    records = video_records(flink_output)
    assert records == video_records(direct_output)  # all but the time each video took
    assert [(r["video"], r["status"]) for r in records] == RUNNER_CORPUS_VIDEOS
    assert "broken.mp4" in records[2]["source"] and records[2]["reason"]
    # Beam metrics come back from Flink through the job server.
    assert flink_outcome.counters == direct_outcome.counters
    assert flink_outcome.counters["videos_ok"] == 3 and flink_outcome.counters["frames"] == 27
    assert flink_outcome.counters["videos_failed"] == 1
    assert flink_outcome.counters["signs_missing"] == 1  # sign 3 has no folder


def test_the_job_ran_on_the_cluster_and_everything_was_stopped(flink_run):
    *_, jobs, session = flink_run
    assert [job["state"] for job in jobs] == ["FINISHED"]
    assert jobs[0]["name"].startswith("BeamApp")
    assert [s.name for s in session.services] == [
        "Flink JobManager",
        "Flink TaskManager",
        "Beam Flink job server",
        "Python worker pool",
    ]
    for service in session.services:
        assert not service.running(), service.name
    master_port = int(session.cluster.master.rsplit(":", 1)[1])
    assert not port_open(master_port)
    assert not port_open(int(session.job_endpoint.rsplit(":", 1)[1]))
    assert not port_open(int(session.worker_pool.rsplit(":", 1)[1]))


def test_a_failure_inside_the_session_stops_every_process(flink_parts, tmp_path):
    started = []
    with pytest.raises(RuntimeError, match="boom"), flink_session(tmp_path) as session:
        started = [(s.name, s.pid) for s in session.services]
        assert all(s.running() for s in session.services)
        raise RuntimeError("boom")
    assert len(started) == 4
    # Neither a service nor any process it started is left in its process group.
    assert [name for name, pid in started if group_alive(pid)] == []


def test_bad_pipeline_options_fail_before_anything_starts(capsys):
    assert cli.main(["flink", "--local_cluster", "--output_root=/tmp/x"]) == 2
    assert "--input_root is required" in capsys.readouterr().err


def test_options_the_user_gives_win_over_the_flink_defaults():
    args = flink_args(["--environment_config=worker:50000", "--x=1"], "js:1", "localhost:2")
    assert "--environment_config=worker:50000" in args
    assert "--environment_config=localhost:2" not in args
    assert "--job_endpoint=js:1" in args and "--environment_type=EXTERNAL" in args


def cancel(master: str, job_id: str) -> None:
    """Cancel a job through Flink's REST API, as its web UI's Cancel button does."""
    request = urllib.request.Request(f"http://{master}/jobs/{job_id}?mode=cancel", method="PATCH")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def test_a_cancelled_flink_job_resumes_from_its_recorded_videos(
    flink_parts, signer_frames, tmp_path
):
    signs, videos = 8, 3
    long_video = (signer_frames + signer_frames[::-1]) * 2  # 36 real frames
    corpus = build_corpus(
        tmp_path / "corpus",
        {
            SignKey("01", "train", s): {f"v{v}": long_video[v + s :] for v in range(videos)}
            for s in range(1, signs + 1)
        },
    )
    args = [*pipeline_args(corpus, tmp_path / "out")[:-1], f"--selected_signs_to={signs}"]
    direct = tmp_path / "direct"
    run(local_args([*pipeline_args(corpus, direct)[:-1], f"--selected_signs_to={signs}"], 2))

    with flink_session(tmp_path / "work") as session:
        assert session.cluster is not None
        failures: list[BaseException] = []

        def first_run() -> None:
            try:
                run(session.args(args))
            except Exception as e:  # the cancelled job's failure, which this test causes
                failures.append(e)

        runner = threading.Thread(target=first_run)
        runner.start()
        deadline = time.monotonic() + 300
        while not unwritten_records(tmp_path / "out") and runner.is_alive():
            assert time.monotonic() < deadline, "no video was recorded in 5 minutes"
            time.sleep(0.05)
        jobs = session.cluster.jobs()
        running = [j for j in jobs if j["state"] == "RUNNING"]
        assert len(running) == 1, f"the job was not running when a video was recorded: {jobs}"
        job = running[0]
        cancel(session.cluster.master, job["jid"])
        runner.join(timeout=180)
        recorded = len(unwritten_records(tmp_path / "out"))
        assert failures and not runner.is_alive(), "the job finished before it was cancelled"
        assert [j["state"] for j in session.cluster.jobs()] == ["CANCELED"]
        assert 1 <= recorded < signs * videos

        resumed = run(session.args(args))
    c = resumed.counters
    assert c["videos_reused"] >= recorded, c  # every record of a sign not yet written
    assert c["videos_reused"] + c["videos_extracted"] == (signs - c["signs_skipped"]) * videos
    assert output_files(tmp_path / "out") == output_files(direct)
    assert video_records_without_reuse(tmp_path / "out") == video_records_without_reuse(direct)


def video_records_without_reuse(output: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "reused"} for r in video_records(output)]
