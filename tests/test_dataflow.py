"""Packaging for Dataflow: the worker image installs what the tests run, and the README's
command builds the Dataflow job it describes.

No Docker engine and no Google Cloud here: the Dockerfile is read (and linted by hadolint in
run_tests.sh), and the job is built by Beam's DataflowRunner with ``--dry_run``, which does
everything but upload and submit: it builds the project's sdist from ``--setup_file``, the
pipeline proto with its container environment, and the Dataflow worker pool settings.
"""

from __future__ import annotations

import re
import shlex
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.job.graph import build
from pipeline.job.options import SignKpsOptions, validate

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def project_requirements(extra: str | None = None) -> list[Requirement]:
    """setup.py's requirements (base, or one extra's own), as the installed metadata has them."""
    found = []
    for text in metadata.requires("signkps") or []:
        req = Requirement(text)
        in_extra = req.marker is not None and req.marker.evaluate({"extra": extra or ""})
        if (extra is None and req.marker is None) or (extra is not None and in_extra):
            found.append(req)
    return found


def runtime_closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every distribution these requirements pull in, with the version installed here."""
    seen: dict[str, str] = {}
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen[name] = metadata.version(req.name)
        for text in metadata.requires(req.name) or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return seen


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


def pip_commands() -> list[list[str]]:
    return [
        shlex.split(command)[1:]
        for instruction, args in dockerfile_instructions()
        if instruction == "RUN"
        for command in args.split("&&")
        if shlex.split(command)[0] == "pip"
    ]


def packages_named(pip_args: list[str]) -> list[str]:
    """The packages of ``pip install ARGS``: what is neither an option nor an option's value."""
    packages, skip = [], False
    for arg in pip_args:
        if not skip and not arg.startswith("-"):
            packages.append(arg)
        skip = arg in ("--constraint", "-c")
    return packages


def test_every_package_of_the_image_is_pinned_at_the_version_the_tests_run():
    pins = constraints()
    required = project_requirements() + project_requirements("dataflow")
    for req in required:  # setup.py and constraints.txt agree
        assert str(req.specifier) == f"=={pins[canonicalize_name(req.name)]}", req
    closure = runtime_closure(required)
    assert {"mediapipe", "apache-beam", "google-cloud-storage", "protobuf"} <= set(closure)
    unpinned = {name: v for name, v in closure.items() if pins.get(name) != v}
    assert unpinned == {}, "installed here but not pinned so in constraints.txt"


def test_the_image_builds_its_python_environment_from_setup_py_and_constraints():
    pins = constraints()
    commands = pip_commands()
    installs = [c for c in commands if c[0] == "install"]
    for command in installs:
        assert "--constraint" in command and "constraints.txt" in command, command
    installed = sorted(arg for c in installs for arg in packages_named(c[1:]))
    assert installed == [".[dataflow]", "opencv-contrib-python-headless", "setuptools", "wheel"]
    assert ["uninstall", "--yes", "opencv-contrib-python"] in commands
    # The headless OpenCV is the same release as the one mediapipe and setup.py ask for.
    assert pins["opencv-contrib-python-headless"] == pins["opencv-contrib-python"]
    assert {"setuptools", "wheel"} <= set(pins)


def test_the_image_holds_the_projects_packages_and_beams_launcher_of_the_same_release():
    instructions = dockerfile_instructions()
    images = [args.split()[0] for instruction, args in instructions if instruction == "FROM"]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    beam_image = f"apache/beam_python{python}_sdk:{metadata.version('apache-beam')}"
    assert images == [beam_image, f"python:{python}-slim-bookworm"]
    copied = {
        args.split()[0].rstrip("/")
        for instruction, args in instructions
        if instruction == "COPY" and not args.startswith("--from")
    }
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages == {"keypoints", "transforms", "pipeline"}
    assert packages <= copied and {"setup.py", "constraints.txt"} <= set(
        " ".join(args for i, args in instructions if i == "COPY").split()
    )
    assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in instructions


def readme_dataflow_command() -> list[str]:
    """The ``python -m pipeline --runner=DataflowRunner ...`` command of README.md."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running on Dataflow", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    command = next(b for b in blocks if "--runner=DataflowRunner" in b)
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:3] == ["python", "-m", "pipeline"]
    return argv[3:]


@pytest.fixture(scope="module")
def dataflow_job():
    """The README's job, built by DataflowRunner up to the point of submitting it."""
    from apache_beam.runners.dataflow.internal import apiclient

    argv = readme_dataflow_command()
    options = PipelineOptions([*argv, "--dry_run=True"])
    opts = options.view_as(SignKpsOptions)
    validate(opts, corpus=False)  # no network here: the corpus checks would list gs://
    p = beam.Pipeline(options=options)
    build(p, opts, "dry-run")
    job = p.run().job
    environment = apiclient.Environment(
        packages=[],
        options=options,
        environment_version="8",  # the worker environment's major version: not under test
        proto_pipeline_staged_url="gs://unused/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    ).proto
    return dict(a.split("=", 1) for a in argv if "=" in a), job, environment


def test_the_readme_command_asks_for_the_workers_and_image_it_names(dataflow_job):
    args, job, environment = dataflow_job
    assert job.proto.type_.name == "JOB_TYPE_BATCH"
    (pool,) = environment.worker_pools
    assert pool.machine_type == args["--machine_type"] == "n2-standard-2"
    assert pool.num_workers == int(args["--num_workers"])
    images = [image.container_image for image in pool.sdk_harness_container_images]
    assert images == [args["--sdk_container_image"]]


def test_setup_file_ships_the_project_and_no_sdk(dataflow_job):
    _, job, _ = dataflow_job
    (env,) = job.proto_pipeline.components.environments.values()
    staged = {}
    for artifact in env.dependencies:
        role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
        path = beam_runner_api_pb2.ArtifactFilePayload.FromString(artifact.type_payload).path
        staged[role.staged_name] = path
    assert "workflow.tar.gz" in staged  # what --setup_file builds; workers pip-install it
    assert not any("apache_beam" in name or "dataflow_python_sdk" in name for name in staged)
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    for module in (
        "keypoints/extract.py",
        "transforms/npz_sink.py",
        "pipeline/job/graph.py",
        "pipeline/drawing/templates/report.html",  # package data, not only modules
        "setup.py",
    ):
        assert module in names
