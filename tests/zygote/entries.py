"""Entry points a zygote's child runs (keypoints.zygote): what each test asks of one.

Module-level functions, so that a request can name them by reference. Each takes the file
descriptors the request passed.
"""

from __future__ import annotations

import json
import os
import sys
import time

ENV_PROBE = "SIGNKPS_ZYGOTE_PROBE"


def report_state(fd: int) -> None:
    """Write, as JSON into ``fd``, what the child sees: its parent, directory, environment."""
    state = {
        "ppid": os.getppid(),
        "cwd": os.getcwd(),
        "probe": os.environ.get(ENV_PROBE),
        "path_head": sys.path[0],
    }
    os.write(fd, json.dumps(state).encode())
    print("a line on the child's output")


def abort(fd: int) -> None:
    os.abort()


def exit_with(fd: int) -> None:
    sys.exit(int(os.read(fd, 16)))


def raise_error(fd: int) -> None:
    raise RuntimeError("raised in the child")


def sleep(fd: int) -> None:
    os.write(fd, b"sleeping")
    time.sleep(300)
