"""MediaPipe backends, built by name. Each one is imported only when it is asked for."""

from __future__ import annotations

from typing import Any

from keypoints.backends.base import Backend

BACKENDS = ("holistic",)


def create_backend(name: str) -> Backend:
    """A ready backend; expensive (loads models), so build one per worker, not per video."""
    if name == "holistic":
        from keypoints.backends.holistic import HolisticBackend

        return HolisticBackend()
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def backend_settings(name: str) -> dict[str, Any]:
    """A backend's settings for the provenance record, without building it."""
    if name == "holistic":
        from keypoints.backends.holistic import SETTINGS

        return dict(SETTINGS)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "backend_settings", "create_backend"]
