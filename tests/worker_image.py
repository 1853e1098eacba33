"""The project's Dockerfile, built and run with podman on base images made on this machine.

Docker Hub cannot be reached from CI, so the Dockerfile's two base images are made here
from the parts they are made of, and tagged with the names its ``FROM`` lines use:

- ``python:3.11-slim-bookworm``: Debian 12 with its Python 3.11, from ``debootstrap``, with
  ``python`` and a ``pip`` that installs into ``/usr/local`` as the official image's does;
- ``apache/beam_python3.11_sdk``: that, plus Beam's boot launcher (``/opt/apache/beam/boot``,
  all the Dockerfile takes from it), built from Beam's own Go source at the version the
  project pins, through the Go module proxy.

So the Dockerfile users build is built here unchanged. The stand-ins live in a podman
storage of the project's cache, never the machine's own, where a later real build could
take them for the official images. The root file system, the launcher and the storage
(with the images and podman's layer cache) are kept there between runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import apache_beam

from keypoints.cache import cache_root, new_file, new_folder
from pipeline.flink.services import free_port, port_open

logger = logging.getLogger(__name__)
T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
BEAM_VERSION = apache_beam.__version__
BOOT_PACKAGE = "github.com/apache/beam/sdks/v2/python/container"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# python3-pip: the official image's pip; python3-venv: the boot launcher makes a venv per worker.
DEBIAN_PACKAGES = ("python3", "python3-venv", "python3-pip")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What each step may take on a cold machine before it counts as hung.
DEBOOTSTRAP_SECONDS = 600
GO_BUILD_SECONDS = 600
IMAGE_BUILD_SECONDS = 1200
POOL_START_SECONDS = 60.0
WATCH_SECONDS = 1.0  # how often a watched job's logs are read
# A label on every container started here, so that leftovers can be found.
CONTAINER_LABEL = "signkps-test=worker-pool"
# The tools, and where they come from (.ci/run installs Debian's).
TOOLS = {
    "podman": "Debian package podman",
    "runc": "Debian package runc",
    "debootstrap": "Debian package debootstrap",
    "go": "Go, which these machines come with; Debian's is too old",
    "/usr/libexec/podman/catatonit": "Debian package catatonit",
}


class ContainerToolsMissing(RuntimeError):
    """What this machine lacks to build and run the image."""


class PoolFailed(RuntimeError):
    """The worker pool, or a worker it started, failed; the message holds the container's log."""


def missing_tools() -> list[str]:
    missing = [f"{tool} ({source})" for tool, source in TOOLS.items() if not shutil.which(tool)]
    if os.geteuid() != 0:
        missing.append("root (podman runs rootful here: rootless needs subuid ranges)")
    return missing


def base_images() -> list[str]:
    """The images the Dockerfile's FROM lines name, in order."""
    names = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    return [name for name in names if ":" in name]


def qualified(name: str) -> str:
    """A Docker Hub short name as podman stores it (docker.io/library/python:...)."""
    if name.count("/") == 0:
        return f"docker.io/library/{name}"
    return name if "." in name.split("/", 1)[0] else f"docker.io/{name}"


@dataclass(frozen=True)
class Podman:
    """podman with this machine's settings, on a storage of its own under ``home``.

    runc and cgroupfs: crun fails on the hybrid cgroups of these machines, and there is no
    systemd. No default ulimits: the container may not raise its own above the host's.
    """

    home: Path

    @classmethod
    def in_cache(cls) -> Podman:
        home = cache_root() / "podman"
        home.mkdir(parents=True, exist_ok=True)
        (home / "containers.conf").write_text(
            "[containers]\ndefault_ulimits = []\n"
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        # Short names are Docker Hub's, as for Docker; only local images are ever used.
        (home / "registries.conf").write_text(
            'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
        )
        return cls(home)

    def command(self, *args: str) -> list[str]:
        runroot = Path(tempfile.gettempdir()) / f"signkps-podman-{os.getuid()}"
        return [
            "podman",
            f"--root={self.home / 'storage'}",
            f"--runroot={runroot}",
            "--storage-driver=overlay",
            "--runtime=/usr/sbin/runc",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            *args,
        ]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.home / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.home / "registries.conf"),
        }

    def run(self, *args: str, timeout: float = 120, log: Path | None = None) -> str:
        """Run podman; its output (with stderr), or a RuntimeError that holds its tail."""
        what = f"podman {' '.join(args[:2])}"
        return _output(self.command(*args), timeout, env=self.env(), log=log, what=what)

    def image_exists(self, name: str) -> bool:
        return (
            subprocess.run(
                self.command("image", "exists", name), env=self.env(), check=False
            ).returncode
            == 0
        )

    def containers(self) -> list[str]:
        """Containers started here and still there, running or not."""
        out = self.run("ps", "--all", "--quiet", f"--filter=label={CONTAINER_LABEL}")
        return out.split()


def debian_root(cache: Path) -> Path:
    """A tarball of a minimal Debian 12 with Python 3.11, made with debootstrap once."""
    target = cache / f"debian-{DEBIAN_SUITE}-{'-'.join(DEBIAN_PACKAGES)}.tar"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=cache) as work:
        root = Path(work) / "root"
        _output(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                DEBIAN_SUITE,
                str(root),
                DEBIAN_MIRROR,
            ],
            DEBOOTSTRAP_SECONDS,
        )
        for cached in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cached, ignore_errors=True)
        with new_file(target) as f:
            subprocess.run(["tar", "-C", str(root), "-c", "."], stdout=f, check=True)
    return target


def boot_launcher(cache: Path) -> Path:
    """Beam's Python SDK boot launcher, built from Beam's Go source at BEAM_VERSION once."""
    folder = cache / f"beam-boot-{BEAM_VERSION}"

    def build(work: Path) -> None:
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        _output(["go", "mod", "init", "signkps.test/boot"], 60, cwd=work, env=env)
        _output(["go", "get", f"{BOOT_PACKAGE}@v{BEAM_VERSION}"], GO_BUILD_SECONDS, work, env)
        _output(["go", "build", "-o", "boot", BOOT_PACKAGE], GO_BUILD_SECONDS, work, env)
        for name in os.listdir(work):
            if name != "boot":
                os.remove(work / name)

    if not (folder / "boot").is_file():
        new_folder(folder, build)
    return folder / "boot"


def _output(
    argv: list[str],
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    what: str | None = None,
) -> str:
    """``argv``'s output, stderr with it; a RuntimeError naming ``what`` with its tail."""
    what = what or " ".join(argv[:3])
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if log is not None:
        log.write_text(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}, {time.monotonic() - started:.0f} s):\n"
            f"{done.stdout[-6000:]}"
        )
    return done.stdout


# The official python image's layout where it matters to the Dockerfile: `python`, and a
# pip that installs into /usr/local without Debian's externally-managed guard.
PYTHON_STAND_IN = """\
FROM {debian}
RUN rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED && ln -s /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8
CMD ["python3"]
"""
BEAM_STAND_IN = """\
FROM {python}
COPY boot /opt/apache/beam/boot
ENTRYPOINT ["/opt/apache/beam/boot"]
"""
DEBIAN_IMAGE = "localhost/signkps-stand-in/debian-python:bookworm"


def make_base_images(podman: Podman) -> list[str]:
    """Tag the stand-ins with the names the Dockerfile's FROM lines use; return those names."""
    beam, python = (qualified(name) for name in base_images())
    cache = podman.home / "parts"
    cache.mkdir(exist_ok=True)
    if not podman.image_exists(DEBIAN_IMAGE):
        tarball = debian_root(cache)
        podman.run("import", str(tarball), DEBIAN_IMAGE)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        context = Path(work)
        if not podman.image_exists(python):
            (context / "Containerfile").write_text(PYTHON_STAND_IN.format(debian=DEBIAN_IMAGE))
            podman.run("build", "--pull=never", "--network=none", f"--tag={python}", str(context))
        if not podman.image_exists(beam):
            shutil.copy(boot_launcher(cache), context / "boot")
            (context / "Containerfile").write_text(BEAM_STAND_IN.format(python=python))
            podman.run("build", "--pull=never", "--network=none", f"--tag={beam}", str(context))
    return [beam, python]


@dataclass(frozen=True)
class BuiltImage:
    name: str
    size_bytes: int
    build_seconds: float
    log: Path


def build_image(podman: Podman, tag: str, build_args: dict[str, str], log: Path) -> BuiltImage:
    """``podman build`` of the project's Dockerfile, unchanged, as a user runs ``docker build``.

    The build's RUN steps reach PyPI through this machine's network, with its CA bundle:
    behind a TLS-inspecting proxy, that is what a user needs too (README.md).
    """
    started = time.monotonic()
    podman.run(
        "build",
        "--pull=never",  # the stand-ins, never Docker Hub
        "--network=host",
        f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro",
        *(f"--build-arg={k}={v}" for k, v in build_args.items()),
        f"--tag={tag}",
        f"--file={DOCKERFILE}",
        str(REPO),
        timeout=IMAGE_BUILD_SECONDS,
        log=log,
    )
    seconds = time.monotonic() - started
    size = int(podman.run("image", "inspect", "--format={{.Size}}", tag).strip())
    return BuiltImage(tag, size, seconds, log)


def image_python(podman: Podman, image: str, code: str) -> str:
    """What ``python -c code`` prints in the image, started where its workers start."""
    return podman.run(
        "run", "--rm", "--network=none", "--entrypoint=python", image, "-c", code
    ).strip()  # fmt: skip


def image_environment(podman: Podman, image: str) -> dict[str, str | None]:
    """keypoints.environment as the image's own Python reports it."""
    code = "import json; from keypoints.environment import environment as e; print(json.dumps(e()))"
    found: dict[str, str | None] = json.loads(image_python(podman, image, code).splitlines()[-1])
    return found


@dataclass
class WorkerPool:
    """A worker pool container: its address for --environment_config, and its log."""

    podman: Podman
    container: str
    address: str
    started_seconds: float

    def log(self) -> str:
        return self.podman.run("logs", self.container)

    def running(self) -> bool:
        state = self.podman.run("inspect", "--format={{.State.Running}}", self.container)
        return state.strip() == "true"


@contextmanager
def worker_pool(podman: Podman, image: str, mounts: list[Path]) -> Iterator[WorkerPool]:
    """The image as Beam's worker pool, on this host's network, on a free port.

    ``boot --worker_pool`` runs exactly this, but on port 50000 always (boot.go): the pool
    here runs on a free port instead, and starts every worker through the image's boot
    launcher, as Dataflow does: the launcher fetches the job's staged files, installs the
    --setup_file package, and starts the SDK worker. ``mounts`` appear at the same paths
    inside (what a bucket is on Dataflow). pip is kept off the network: whatever a worker
    installs, it must install from the image alone. The container is removed on the way
    out, however the block ends.
    """
    port = free_port()
    started = time.monotonic()
    container = podman.run(
        "run",
        "--detach",
        "--init",  # so that a stop reaches the pool at once, not after 10 s and a SIGKILL
        f"--label={CONTAINER_LABEL}",
        "--network=host",
        *(f"--volume={path}:{path}" for path in mounts),
        "--env=PIP_NO_INDEX=1",
        "--env=BEAM_PYTHON_WORKER_POOL_ID=1",  # what boot --worker_pool sets
        "--entrypoint=python",
        image,
        "-m",
        "apache_beam.runners.worker.worker_pool_main",
        f"--service_port={port}",
        "--container_executable=/opt/apache/beam/boot",
    ).strip()
    pool = WorkerPool(podman, container, f"localhost:{port}", 0.0)
    try:
        deadline = started + POOL_START_SECONDS
        while not port_open(port):
            if not pool.running():
                raise PoolFailed(f"the worker pool exited at start; its log:\n{pool.log()}")
            if time.monotonic() > deadline:
                raise PoolFailed(
                    f"the worker pool did not listen on {pool.address} within "
                    f"{POOL_START_SECONDS:.0f} s; its log:\n{pool.log()}"
                )
            time.sleep(0.2)
        pool.started_seconds = time.monotonic() - started
        yield pool
    finally:
        podman.run("rm", "--force", "--time=5", container)


# Lines that mean a worker of the pool failed, so the job can never finish. Beam on Flink
# fails it only 3 minutes later, with "No client connected within timeout", which does
# not say why. They reach the TaskManager's log (the SDK's own log, over the Fn API) or
# the container's (the boot launcher's, when that is gone).
WORKER_FAILURE = re.compile(
    r"Error processing instruction|failed to install required packages|"
    r"failed to retrieve staged files|exited \d+ times: exit status|out of retries"
)

# The last line of a Python traceback: the exception and its message.
PYTHON_ERROR = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b.*$", re.MULTILINE)


def worker_failure(pool: WorkerPool, log_folder: Path) -> str | None:
    """What shows that the pool or a worker failed, with the logs that show it; or None.

    ``log_folder`` holds the logs of Flink's processes (pipeline.flink.session).
    """
    if not pool.running():
        return f"the worker pool container exited; its log:\n{pool.log()[-8000:]}"
    container_log = pool.log()
    logs = [("the worker pool's log", container_log)] + [
        (path.name, path.read_text(errors="replace")) for path in sorted(log_folder.glob("*.*"))
    ]
    for name, text in logs:
        found = WORKER_FAILURE.search(text)
        if found is None:
            continue
        raised = PYTHON_ERROR.search(text, found.end())
        if found.group().startswith("Error processing") and raised is None:
            continue  # its traceback is still being written: read it whole next time
        end = raised.end() if raised is not None else found.end() + 3000
        excerpt = text[max(0, found.start() - 1500) : end]
        return (
            f"a worker failed; from {name}:\n{excerpt}\n\n"
            f"the worker pool's log, last lines:\n{container_log[-6000:]}"
        )
    return None


def run_watched(job: Callable[[], T], pool: WorkerPool, log_folder: Path) -> T:
    """``job()``, stopped by PoolFailed as soon as the pool or one of its workers fails.

    The job runs in a thread of its own; when it waits on a worker that never comes, the
    caller's way out (leaving the Flink session, which stops the cluster) ends it.
    """
    outcome: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(job())
        except BaseException as e:  # handed to the caller's thread
            errors.append(e)

    thread = threading.Thread(target=target, name="watched-job", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(WATCH_SECONDS)
        failure = worker_failure(pool, log_folder) if thread.is_alive() else None
        if failure is not None:
            raise PoolFailed(failure)
    if errors:
        raise errors[0]
    return outcome[0]
