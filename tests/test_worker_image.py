"""The Dataflow worker image, built from the project's Dockerfile and run on a Flink cluster.

What a user's first Dataflow job meets, short of Dataflow itself: the image is built with
podman from the unchanged Dockerfile (on local stand-ins for its base images,
tests/worker_image.py), started as Beam's worker pool, and given a job by a real local
Flink cluster with ``--environment_type=EXTERNAL``, so that every DoFn runs inside the
image: its boot launcher installs the ``--setup_file`` package offline, MediaPipe runs
without libGL, and the tasks backend finds the models baked into the image. Each run's
npz files must be byte for byte those of a DirectRunner run on this machine.

Without podman, runc, debootstrap or Go, or without a registry to fetch from, the tests
skip, except in CI, whose .ci/run installs them.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.flink.session import flink_session
from pipeline.job.run import RunOutcome, run
from pipeline.local.launcher import local_args
from tests.conftest import REPO, RUNNER_CORPUS_VIDEOS, unavailable
from tests.model_mirror import mirror, serving
from tests.support import output_files, video_records
from tests.worker_image import (
    BuiltImage,
    Podman,
    PoolFailed,
    build_image,
    image_environment,
    image_python,
    make_base_images,
    missing_tools,
    run_watched,
    worker_pool,
)

pytestmark = [pytest.mark.flink, pytest.mark.container, pytest.mark.slow]

logger = logging.getLogger(__name__)

IMAGE = "localhost/signkps-worker:test"
BACKENDS = ("holistic", "tasks")
# A failure must be reported within this; the job itself would fail only after 3 minutes,
# without saying why.
FAILURE_SECONDS = 60


@pytest.fixture(scope="module")
def podman(request) -> Podman:
    missing = missing_tools()
    if missing:
        unavailable(f"cannot build or run containers here, missing: {', '.join(missing)}")
    pod = Podman.in_cache()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    try:
        with capture.global_and_fixture_disabled():
            print("\nmaking the Dockerfile's base images (first time: about 2 min) ...")
            make_base_images(pod)
    except (RuntimeError, OSError) as e:  # debootstrap's mirror or the Go proxy unreachable
        unavailable(f"the Dockerfile's base images cannot be made here: {e}")
    logger.warning("base images ready in %.0f s", time.monotonic() - started)
    return pod


@pytest.fixture(scope="module")
def image(podman, assets, tmp_path_factory, request) -> BuiltImage:
    """The project's image, its tasks models fetched from a mirror on 127.0.0.1."""
    www = tmp_path_factory.mktemp("model-mirror")
    mirror(www, assets / "models")
    log = tmp_path_factory.mktemp("build") / "build.log"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with serving(www) as url, capture.global_and_fixture_disabled():
        print("building the worker image with podman ...")
        # The test assets hold only the full pose model: the others stay out of the image.
        built = build_image(
            podman, IMAGE, {"SIGNKPS_MODEL_BASE_URL": url, "POSE_MODELS": "full"}, log
        )
        print(f"built {built.name}: {built.size_bytes / 1e9:.2f} GB in {built.build_seconds:.0f} s")
    return built


def pipeline_args(corpus: Path, output: Path, backend: str) -> list[str]:
    return [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers=01",
        "--splits=train",
        "--selected_signs_from=1",
        "--selected_signs_to=2",
        f"--backend={backend}",
    ]


@dataclass
class ImageRuns:
    outputs: dict[str, Path]  # backend -> output root
    outcomes: dict[str, RunOutcome]
    pool_start_seconds: float
    leftover_containers: list[str]
    services_running: list[str]  # Flink's, after the session


@pytest.fixture(scope="module")
def image_runs(
    flink_parts, podman, image, runner_corpus, tmp_path_factory, request
) -> Iterator[ImageRuns]:
    """Both backends' runs on one local Flink cluster whose workers are the image's."""
    base = tmp_path_factory.getbasetemp()
    workdir = tmp_path_factory.mktemp("flink-work")
    outputs = {b: tmp_path_factory.mktemp(f"image-{b}") for b in BACKENDS}
    outcomes = {}
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with (
        worker_pool(podman, image.name, [base]) as pool,
        flink_session(workdir, worker_pool_address=pool.address) as session,
    ):
        with capture.global_and_fixture_disabled():
            print(
                f"worker pool of {image.name} up at {pool.address} in {pool.started_seconds:.1f} s"
            )
        for backend in BACKENDS:
            args = [
                *pipeline_args(runner_corpus, outputs[backend], backend),
                f"--setup_file={REPO / 'setup.py'}",  # as a Dataflow job ships the project
            ]
            outcomes[backend] = run_watched(
                lambda args=args: run(session.args(args)), pool, workdir / "logs"
            )
            with capture.global_and_fixture_disabled():
                print(
                    f"--backend {backend} on Flink, in the image: {outcomes[backend].seconds:.1f} s"
                )
        started = pool.started_seconds
    running = [s.name for s in session.services if s.running()]
    yield ImageRuns(outputs, outcomes, started, podman.containers(), running)


@pytest.fixture(scope="module")
def direct_outputs(runner_corpus, assets, tmp_path_factory) -> dict[str, Path]:
    outputs = {}
    for backend in BACKENDS:
        output = tmp_path_factory.mktemp(f"direct-{backend}")
        args = [*pipeline_args(runner_corpus, output, backend), f"--model_dir={assets / 'models'}"]
        run(local_args(args, workers=2))
        outputs[backend] = output
    return outputs


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_image_writes_the_npz_bytes_of_the_direct_runner(
    image_runs, direct_outputs, backend, capsys
):
    in_image = output_files(image_runs.outputs[backend])
    assert sorted(in_image) == ["01-train/0001.npz", "01-train/0002.npz"]
    assert in_image == output_files(direct_outputs[backend])
    with capsys.disabled():  # for CI's log: what was compared, and that it held
        print(f"\n--backend {backend}: {len(in_image)} npz byte-identical to the DirectRunner's")
    records = video_records(image_runs.outputs[backend])
    assert records == video_records(direct_outputs[backend])
    assert [(r["video"], r["status"]) for r in records] == RUNNER_CORPUS_VIDEOS


def test_run_json_records_the_image_s_versions(podman, image, image_runs):
    in_image = image_environment(podman, image.name)
    # The image's OpenCV is the headless build, its Python Debian's: not this machine's.
    assert in_image["opencv-contrib-python-headless"] is not None
    assert in_image["opencv-contrib-python"] is None
    for backend in BACKENDS:
        recorded = (image_runs.outputs[backend] / "_reports" / "run.json").read_text()
        assert json.loads(recorded)["workers"] == [in_image]


def test_workers_run_the_installed_package_not_the_sources_it_was_built_from(podman, image):
    """A copy of the sources where workers start would shadow the job's --setup_file package."""
    location = image_python(podman, image.name, "import keypoints; print(keypoints.__file__)")
    assert location.splitlines()[-1].startswith("/usr/local/lib/python3.11/dist-packages/")


def test_the_image_starts_beam_s_boot_launcher(podman, image):
    """What Dataflow runs: the entry point, the launcher the pool starts every worker with."""
    entrypoint = podman.run("image", "inspect", "--format={{json .Config.Entrypoint}}", image.name)
    assert json.loads(entrypoint) == ["/opt/apache/beam/boot"]
    assert (
        image_python(
            podman, image.name, "import os; print(os.access('/opt/apache/beam/boot', os.X_OK))"
        )
        == "True"
    )


def test_nothing_is_left_behind(image_runs):
    assert image_runs.leftover_containers == []
    assert image_runs.services_running == []


def broken_image(podman: Podman, base: str, tag: str, breakage: str) -> str:
    """``base`` with one more step that breaks it; a build of seconds on the cached layers."""
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Containerfile").write_text(f"FROM {base}\nRUN {breakage}\n")
        podman.run("build", "--pull=never", "--network=none", f"--tag={tag}", context)
    return tag


def test_a_pool_that_cannot_start_fails_at_once_with_its_log(podman, image, tmp_path):
    broken = broken_image(
        podman, image.name, "localhost/signkps-worker:no-beam", "pip uninstall --yes apache-beam"
    )
    started = time.monotonic()
    with pytest.raises(PoolFailed) as failed, worker_pool(podman, broken, [tmp_path]):
        pass
    assert time.monotonic() - started < FAILURE_SECONDS
    assert "No module named 'apache_beam'" in str(failed.value)
    assert podman.containers() == []


# Beam's own thread that reads the job's messages, cut off when the session stops the cluster.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_cannot_import_the_project_fails_the_run_with_its_log(
    flink_parts, podman, image, runner_corpus, tmp_path
):
    """Beam on Flink would time out on such a worker after 3 minutes, with no reason given."""
    broken = broken_image(
        podman,
        image.name,
        "localhost/signkps-worker:no-simplejpeg",
        "pip uninstall --yes simplejpeg",
    )
    args = pipeline_args(runner_corpus, tmp_path / "out", "holistic")
    started: list[float] = []  # when the run was started, once Flink is up
    with (
        pytest.raises(PoolFailed) as failed,
        worker_pool(podman, broken, [tmp_path, runner_corpus]) as pool,
        flink_session(tmp_path / "work", worker_pool_address=pool.address) as session,
    ):
        started.append(time.monotonic())
        run_watched(lambda: run(session.args(args)), pool, tmp_path / "work" / "logs")
    assert time.monotonic() - started[0] < FAILURE_SECONDS
    assert "No module named 'simplejpeg'" in str(failed.value)
    assert podman.containers() == []
    assert [s.name for s in session.services if s.running()] == []
    assert not list((tmp_path / "out").glob("*/*.npz"))
