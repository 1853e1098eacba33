"""``signkps flink`` (what run_flink.sh runs): the pipeline on a Flink cluster.

Three services stand between this process and Flink, and this module starts and stops them:

- the Beam Flink job server (a JVM), which turns the Beam pipeline into a Flink job and
  submits it to the cluster's REST endpoint (``--flink_master HOST:PORT``);
- a Python worker pool (``apache_beam.runners.worker.worker_pool_main``), the sidecar each
  Flink TaskManager asks for Python SDK workers (``--environment_type=EXTERNAL``): it starts
  them with the ``python`` first on its PATH, so the project must be installed there;
- with ``--local_cluster``, a throwaway standalone Flink cluster on this machine (one
  JobManager, one TaskManager), as the tests use.

A worker pool started here serves TaskManagers on this machine only. On a cluster of
several machines, run one on every TaskManager host (README.md, "Running on Flink") and pass
its port with ``--worker_pool``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.flink.dist import (
    FLINK_VERSION,
    JOB_SERVER_MAIN,
    FetchError,
    flink_home,
    java,
    job_server_classpath,
)
from pipeline.flink.services import LOOPBACK, Service, ServiceError, free_port, wait_until
from pipeline.job.options import SignKpsOptions, validate
from pipeline.job.run import run_and_report
from pipeline.usage import CommandParser, with_defaults

logger = logging.getLogger(__name__)

# Memory of the throwaway cluster's JVMs: enough for this pipeline's shuffles (keypoints of
# one sign at a time), small enough for a laptop. The Python workers live outside them.
JOBMANAGER_MEMORY = "1024m"
TASKMANAGER_MEMORY = "1280m"
DEFAULT_SLOTS = 2
STARTUP_SECONDS = 180.0


def rest_get(master: str, path: str) -> Any:
    """GET a Flink REST endpoint (``/overview``, ``/jobs/overview``) as JSON."""
    with urllib.request.urlopen(f"http://{master}{path}", timeout=5) as response:
        return json.load(response)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cluster_config(
    base: dict[str, Any], rpc_port: int, rest_port: int, slots: int, tmp_dir: Path
) -> dict[str, Any]:
    """The distribution's config.yaml, bound to the loopback interface on the given ports.

    The base keeps the JVM options Flink needs on Java 17 (``env.java.opts.all``).
    """
    return _merge(
        base,
        {
            "jobmanager": {
                "bind-host": LOOPBACK,
                "rpc": {"address": LOOPBACK, "port": rpc_port},
                "memory": {"process": {"size": JOBMANAGER_MEMORY}},
            },
            "taskmanager": {
                "bind-host": LOOPBACK,
                "host": LOOPBACK,
                "numberOfTaskSlots": slots,
                "memory": {"process": {"size": TASKMANAGER_MEMORY}},
            },
            "rest": {"address": LOOPBACK, "bind-address": LOOPBACK, "port": rest_port},
            "parallelism": {"default": slots},
            "io": {"tmp": {"dirs": str(tmp_dir)}},
        },
    )


@dataclass(frozen=True)
class LocalCluster:
    master: str  # host:port of the REST endpoint, what --flink_master takes
    services: tuple[Service, ...]

    def jobs(self) -> list[dict[str, Any]]:
        """The cluster's jobs, as its REST API lists them (name, state, ...)."""
        return list(rest_get(self.master, "/jobs/overview")["jobs"])


def _slots_ready(master: str, slots: int) -> bool:
    try:
        return int(rest_get(master, "/overview")["slots-total"]) >= slots
    except (OSError, ValueError, KeyError):  # not listening yet, or not answering fully
        return False


@contextmanager
def local_cluster(workdir: Path, slots: int = DEFAULT_SLOTS) -> Iterator[LocalCluster]:
    """A standalone Flink cluster on 127.0.0.1: a JobManager and a TaskManager with ``slots``."""
    home = flink_home()
    conf = workdir / "flink-conf"
    shutil.copytree(home / "conf", conf, dirs_exist_ok=True)
    base = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
    rest_port, tmp_dir = free_port(), workdir / "flink-tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = cluster_config(base, free_port(), rest_port, slots, tmp_dir)
    (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    env = {**os.environ, "FLINK_CONF_DIR": str(conf), "FLINK_LOG_DIR": str(workdir / "logs")}
    env.pop("FLINK_HOME", None)  # the scripts find their own distribution
    master = f"{LOOPBACK}:{rest_port}"
    with ExitStack() as stack:
        # Registered first, so it runs last: after both JVMs have stopped.
        stack.callback(shutil.rmtree, tmp_dir, ignore_errors=True)  # blobs, spilled data
        services = tuple(
            stack.enter_context(
                Service(name, [str(home / "bin" / script), "start-foreground"], log, env=env)
            )
            for name, script, log in (
                ("Flink JobManager", "jobmanager.sh", workdir / "logs" / "jobmanager.out"),
                ("Flink TaskManager", "taskmanager.sh", workdir / "logs" / "taskmanager.out"),
            )
        )
        wait_until(
            services,
            lambda: _slots_ready(master, slots),
            STARTUP_SECONDS,
            f"{slots} task slots ready at {master}",
        )
        logger.info("Flink %s cluster up at %s with %d slots", FLINK_VERSION, master, slots)
        yield LocalCluster(master, services)


@dataclass(frozen=True)
class Endpoint:
    address: str  # host:port
    service: Service


@contextmanager
def job_server(flink_master: str, workdir: Path) -> Iterator[Endpoint]:
    """Beam's Flink job server for ``flink_master``; yields its job endpoint."""
    classpath = job_server_classpath()
    port = free_port()
    argv = [
        java(), "-cp", str(classpath / "*"), JOB_SERVER_MAIN,
        f"--flink-master={flink_master}",
        f"--job-port={port}",
        f"--artifact-port={free_port()}",
        "--expansion-port=-1",  # no cross-language transforms in this pipeline
        f"--artifacts-dir={workdir / 'artifacts'}",
    ]  # fmt: skip
    with Service("Beam Flink job server", argv, workdir / "logs" / "job-server.out") as service:
        service.wait_for_port(port, STARTUP_SECONDS)
        yield Endpoint(f"localhost:{port}", service)


@contextmanager
def worker_pool(workdir: Path) -> Iterator[Endpoint]:
    """A Python SDK worker pool running this interpreter; yields its address."""
    port = free_port()
    # The pool starts each worker as plain `python`: make it this environment's.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    argv = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={port}"]  # fmt: skip
    log = workdir / "logs" / "worker-pool.out"
    with Service("Python worker pool", argv, log, env={**os.environ, "PATH": path}) as service:
        service.wait_for_port(port, STARTUP_SECONDS)
        yield Endpoint(f"localhost:{port}", service)


def flink_args(argv: list[str], job_endpoint: str, worker_pool_address: str) -> list[str]:
    """Pipeline arguments for a portable run on Flink, over whatever ``argv`` sets itself."""
    return with_defaults(
        argv,
        {
            "--runner": "PortableRunner",
            "--job_endpoint": job_endpoint,
            "--environment_type": "EXTERNAL",
            "--environment_config": worker_pool_address,
            # WARN, not WARNING: the job server (Java) parses the options too, and its enum
            # has no WARNING; Python's logging knows both.
            "--default_sdk_harness_log_level": "WARN",
        },
    )


@dataclass(frozen=True)
class FlinkSession:
    job_endpoint: str
    worker_pool: str
    cluster: LocalCluster | None  # the local cluster, when the session started one
    services: tuple[Service, ...]  # every process the session started

    def args(self, argv: list[str]) -> list[str]:
        """The pipeline's arguments ``argv`` for a run in this session."""
        return flink_args(argv, self.job_endpoint, self.worker_pool)


@contextmanager
def flink_session(
    workdir: Path,
    flink_master: str | None = None,
    worker_pool_address: str | None = None,
    slots: int = DEFAULT_SLOTS,
) -> Iterator[FlinkSession]:
    """Everything a run on Flink needs, started under ``workdir`` (logs in ``logs/``).

    Starts a local cluster when no ``flink_master`` is given, and a worker pool when no
    ``worker_pool_address`` is; stops all it started on the way out, also on an error.
    """
    with ExitStack() as stack:
        cluster: LocalCluster | None = None
        services: list[Service] = []
        if flink_master is None:
            cluster = stack.enter_context(local_cluster(workdir, slots))
            flink_master = cluster.master
            services += cluster.services
        server = stack.enter_context(job_server(flink_master, workdir))
        services.append(server.service)
        if worker_pool_address is None:
            pool = stack.enter_context(worker_pool(workdir))
            worker_pool_address = pool.address
            services.append(pool.service)
        yield FlinkSession(server.address, worker_pool_address, cluster, tuple(services))


def _parser() -> CommandParser:
    parser = CommandParser(
        prog="signkps flink",
        description="Run the pipeline on a Flink cluster. Options not listed here are the "
        "pipeline's (README.md) and Beam's.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--flink_master", help="the cluster's REST endpoint, HOST:PORT")
    where.add_argument(
        "--local_cluster",
        action="store_true",
        help="start a throwaway standalone Flink cluster on this machine instead",
    )
    where.add_argument(
        "--fetch_only",
        action="store_true",
        help="download Flink and the job server into the cache, then exit",
    )
    parser.add_argument(
        "--worker_pool",
        metavar="HOST:PORT",
        help="worker pools already running beside every TaskManager (default: start one here)",
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=DEFAULT_SLOTS,
        help="task slots of --local_cluster (default: %(default)s)",
    )
    parser.add_argument("--workdir", help="logs and Flink's temporary files (default: a new one)")
    return parser


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the ``with`` blocks stop the services."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str]) -> int:
    """``signkps flink``: 0 when the run finished, 1 when a part could not be had or started."""
    for name in (__name__, "pipeline.flink.services"):  # say which service starts and stops
        logging.getLogger(name).setLevel(logging.INFO)
    known, rest = _parser().parse_known_args(argv)
    try:
        if known.fetch_only:
            flink_home()
            job_server_classpath()
            return 0
    except FetchError as e:
        print(f"signkps: {e}", file=sys.stderr)
        return 1
    # Bad pipeline options fail here, before minutes of starting services.
    validate(PipelineOptions(rest).view_as(SignKpsOptions))
    _stop_on_sigterm()
    workdir = Path(known.workdir or tempfile.mkdtemp(prefix="signkps-flink-"))
    try:
        with flink_session(workdir, known.flink_master, known.worker_pool, known.slots) as session:
            return run_and_report(session.args(rest))
    except (FetchError, ServiceError) as e:
        print(f"signkps: {e}", file=sys.stderr)
        return 1
    finally:
        print(
            f"signkps: logs of Flink, the job server and the worker pool: {workdir / 'logs'}",
            file=sys.stderr,
        )
