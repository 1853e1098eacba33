"""MediaPipe backends, built by name. Each one is imported only when it is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keypoints.backends.base import (
    Backend,
    BackendConfig,
    CountsHandLabelDisagreements,
    graph_threads_per_worker,
)
from keypoints.frames import OpenFile
from keypoints.models import ModelStore

BACKENDS = ("holistic", "tasks")


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def create_backend(
    name: str, config: BackendConfig | None = None, open_file: OpenFile | None = None
) -> Backend:
    """A ready backend; expensive (loads models), so build one per worker, not per video.

    ``open_file`` reads a ``config.model_dir`` that is a URL (gs://...).
    """
    config = config or BackendConfig()
    if name == "holistic":
        from keypoints.backends.holistic import HolisticBackend

        return HolisticBackend(graph_threads=config.graph_threads)
    if name == "tasks":
        from keypoints.backends.tasks import TasksBackend

        return TasksBackend(config, ModelStore(config.model_dir, open_file=open_file))
    raise _unknown(name)


def backend_settings(name: str, config: BackendConfig | None = None) -> dict[str, Any]:
    """A backend's settings for the provenance record, without building it."""
    config = config or BackendConfig()
    if name == "holistic":
        from keypoints.backends.holistic import SETTINGS

        return dict(SETTINGS)
    if name == "tasks":
        from keypoints.backends import tasks

        return tasks.settings(config)
    raise _unknown(name)


def fetch_models(
    name: str,
    config: BackendConfig | None = None,
    open_file: OpenFile | None = None,
    progress: bool | None = None,
) -> dict[str, Path]:
    """The verified local model files a backend will load, fetched into the cache now.

    A launcher calls it so that a local run downloads once, with a progress bar, and a
    missing or wrong file stops the run before any worker starts. Holistic needs none.
    """
    config = config or BackendConfig()
    if name == "holistic":
        return {}
    if name == "tasks":
        from keypoints.backends.tasks import models_for

        store = ModelStore(config.model_dir, open_file=open_file, progress=progress)
        return {role: store.path(model) for role, model in models_for(config).items()}
    raise _unknown(name)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "CountsHandLabelDisagreements",
    "backend_settings",
    "create_backend",
    "fetch_models",
    "graph_threads_per_worker",
]
