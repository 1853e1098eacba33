"""The pinned Flink distribution and Beam Flink job server, downloaded once and cached.

Flink comes from PyPI: ``apache-flink`` and ``apache-flink-libraries`` together hold a
complete distribution (``bin/`` scripts, ``conf/``, ``lib/``). They are installed with
``pip --target --no-deps`` into the cache, never into the project's environment, whose pins
(numpy, protobuf, apache-beam) theirs contradict.

The job server is Beam's ``FlinkJobServerDriver`` run from its Maven classpath, which Maven
resolves from Maven Central into the cache. Beam publishes the same classes shaded as
``beam-runners-flink-<minor>-job-server``, but Maven Central as reached from this project's
machines serves no such artifact (no version, no Flink minor), and of the unshaded
``beam-runners-flink-<minor>`` runners only 1.19 at 2.62.0 has every dependency there. The
Python SDK (2.77.0) drives it through Beam's portable job and Fn APIs, which are versioned
by their protos, not by the release; tests/test_flink.py proves the pairing by comparing a
Flink run's output with the DirectRunner's, byte for byte.

Both installs go to a temporary folder first and are renamed into place when complete, so
an interrupted download is redone, never half used, and two concurrent first runs do not
trip over each other.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from keypoints.cache import cache_root, new_folder

logger = logging.getLogger(__name__)

FLINK_VERSION = "1.19.3"
FLINK_PACKAGES = (f"apache-flink=={FLINK_VERSION}", f"apache-flink-libraries=={FLINK_VERSION}")
FLINK_MINOR = ".".join(FLINK_VERSION.split(".")[:2])

BEAM_JOB_SERVER_VERSION = "2.62.0"
JOB_SERVER_ARTIFACT = f"org.apache.beam:beam-runners-flink-{FLINK_MINOR}:{BEAM_JOB_SERVER_VERSION}"
# Beam's own job server jar bundles this SLF4J binding; without one the job server logs nothing.
JOB_SERVER_LOGGING = "org.slf4j:slf4j-simple:1.7.30"
JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"

Announce = Callable[[str], None]


class FetchError(RuntimeError):
    """A part could not be had (no network, no Java or Maven); the message says which and why."""


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def java() -> str:
    """The ``java`` Flink and the job server run on: ``$JAVA_HOME/bin/java`` or the PATH's."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        raise FetchError(
            "java not found: Flink and the Beam job server need a Java 11 or 17 runtime "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    return found


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FetchError(
            f"{what} failed ({argv[0]} exited {done.returncode}):\n"
            + _tail(done.stdout + done.stderr)
        )


def flink_home(announce: Announce = _to_stderr) -> Path:
    """FLINK_HOME of the pinned distribution (its ``bin/``, ``conf/``, ``lib/``)."""
    final = cache_root() / "flink" / f"flink-{FLINK_VERSION}"
    home = final / "pyflink"
    if (home / "bin" / "jobmanager.sh").is_file():
        return home
    announce(
        f"signkps: downloading Flink {FLINK_VERSION} from PyPI ({' and '.join(FLINK_PACKAGES)}, "
        f"about 240 MB, once) into {final}"
    )

    def install(folder: Path) -> None:
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-deps", "--no-compile", "--target", str(folder), *FLINK_PACKAGES]  # fmt: skip
        _run(argv, f"downloading Flink {FLINK_VERSION} from PyPI")
        if not (folder / "pyflink" / "lib").is_dir():
            raise FetchError(f"{' and '.join(FLINK_PACKAGES)} installed no pyflink/lib")

    new_folder(final, install)
    announce(f"signkps: Flink {FLINK_VERSION} is in {home}")
    return home


def job_server_pom(artifacts: tuple[str, ...] = (JOB_SERVER_ARTIFACT, JOB_SERVER_LOGGING)) -> str:
    """A Maven project whose runtime classpath is the job server's."""
    dependencies = "".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
        "<version>{}</version></dependency>\n".format(*artifact.split(":"))
        for artifact in artifacts
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>org.signkps</groupId><artifactId>flink-job-server</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{dependencies}  </dependencies>\n"
        "</project>\n"
    )


def job_server_classpath(announce: Announce = _to_stderr) -> Path:
    """A folder holding every jar of the Beam Flink job server (``java -cp 'DIR/*'``)."""
    name = f"beam-flink-{FLINK_MINOR}-job-server-{BEAM_JOB_SERVER_VERSION}"
    final = cache_root() / "flink" / name
    lib = final / "lib"
    if lib.is_dir() and any(lib.glob("beam-runners-flink-*.jar")):
        return lib
    java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FetchError(
            "mvn not found: Maven fetches the Beam Flink job server from Maven Central "
            "(Debian: apt-get install maven)"
        )
    announce(
        f"signkps: downloading the Beam Flink job server ({JOB_SERVER_ARTIFACT} and its "
        f"dependencies, about 150 MB, once) from Maven Central with Maven into {final}"
    )

    def install(folder: Path) -> None:
        (folder / "pom.xml").write_text(job_server_pom())
        argv = [mvn, "--batch-mode", "--quiet", "-f", str(folder / "pom.xml"),
                "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-DoutputDirectory={folder / 'lib'}"]  # fmt: skip
        _run(argv, f"resolving {JOB_SERVER_ARTIFACT} with Maven")

    new_folder(final, install)
    announce(f"signkps: the Beam Flink job server's jars are in {lib}")
    return lib
