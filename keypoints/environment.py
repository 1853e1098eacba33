"""The software keypoints are made with: the interpreter and the packages that matter.

A worker's environment is not the driver's: on Dataflow or Flink the DoFns run in a
container image, with its own versions. So each worker records its own, and the run's
provenance lists what its workers had (pipeline.records.reports).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

# The packages whose versions decide the numbers, the decoders among them (they decide the
# pixels MediaPipe sees): a video recorded with others is not reused. A worker image has
# the headless OpenCV in place of the GUI build, which is the same code.
DECIDING_PACKAGES = (
    "signkps",
    "mediapipe",
    "av",
    "simplejpeg",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)
# What a run's provenance names: the deciding packages and the two that carry them.
RECORDED_PACKAGES = (*DECIDING_PACKAGES, "apache-beam", "numpy")

Environment = dict[str, str | None]  # name -> version; None: not installed


def package_versions(names: Iterable[str]) -> Environment:
    found: Environment = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment() -> Environment:
    """This interpreter's version and those of RECORDED_PACKAGES."""
    return {"python": platform.python_version(), **package_versions(RECORDED_PACKAGES)}
