"""The pipeline graph, top to bottom."""

from __future__ import annotations

import apache_beam as beam

from keypoints.backends import BackendConfig
from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings
from pipeline.options import SignKpsOptions, selected_signs
from transforms.extract import ExtractKeypoints
from transforms.listing import ListSignVideos
from transforms.pose_sink import WriteSignPoses
from transforms.sink import WriteSignNpz
from transforms.staging import WriteSigns

# --output_format -> the sink writing it.
SINKS: dict[str, type[WriteSigns]] = {
    "npz": WriteSignNpz,
    "pose": WriteSignPoses,
}


def extraction_settings(opts: SignKpsOptions) -> ExtractionSettings:
    return ExtractionSettings(adjusted=opts.adjusted, layout=opts.layout_points, fps=opts.fps)


def backend_config(opts: SignKpsOptions) -> BackendConfig:
    return BackendConfig(
        model_dir=opts.model_dir,
        pose_model=opts.pose_model,
        graph_threads=opts.mediapipe_threads,
    )


def build(p: beam.Pipeline, opts: SignKpsOptions) -> beam.PCollection[SignKey]:
    """Selected signs -> their videos -> keypoints -> one npz (or .pose folder) per sign."""
    write = SINKS[opts.output_format]
    return (
        p
        | "SelectSigns" >> beam.Create(selected_signs(opts))
        | "ListSignVideos"
        >> ListSignVideos(
            opts.input_root,
            opts.corpus_layout,
            opts.output_root,
            overwrite=opts.overwrite,
            progress_socket=opts.progress_socket,
            output_format=opts.output_format,
        )
        | "ExtractKeypoints"
        >> ExtractKeypoints(
            opts.output_root,
            opts.backend,
            extraction_settings(opts),
            opts.progress_socket,
            backend_config(opts),
        )
        | write.__name__ >> write(opts.output_root)
    )
