"""Test-only: every Python process started with this folder on PYTHONPATH crashes for real
in MediaPipe when Holistic meets an ABORT_RGB poison frame (tests/support.py).

A real run (the ``signkps`` console script, its Beam workers and their extraction
processes) cannot be handed a test backend, so this patch goes in the way Python lets
any process be customised: ``sitecustomize``, imported at start-up. Once
``keypoints.backends.holistic`` is imported, ``HolisticBackend.process`` gives MediaPipe a
32,800-pixel-wide image in place of a frame that is all ABORT_RGB: OpenCV's ``remap``
inside MediaPipe asserts, and the C++ exception aborts the process (SIGABRT), with the
message of the crash this test stands for. The poison frame itself is an ordinary small
image, so no check of frame sizes before native code keeps it from the model.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

ABORT_RGB = (255, 0, 255)  # tests/support.py
TOO_WIDE = (16, 32_800, 3)
TARGET = "keypoints.backends.holistic"


def _patch(module: ModuleType) -> None:
    import numpy as np

    backend = module.HolisticBackend
    real_process = backend.process

    def process(self: Any, rgb: Any, timestamp_ms: int) -> Any:
        if tuple(rgb[0, 0]) == ABORT_RGB and (rgb == ABORT_RGB).all():
            rgb = np.zeros(TOO_WIDE, np.uint8)
        return real_process(self, rgb, timestamp_ms)

    backend.process = process


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            _patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _PatchOnImport())
