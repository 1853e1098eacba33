"""The pipeline graph, top to bottom."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.pvalue import PCollection

from keypoints.backends import BackendConfig
from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings
from pipeline.job.options import SignKpsOptions, selected_signs
from transforms.extract import ExtractKeypoints, ExtractKeypointsDoFn
from transforms.listing import ListSignVideos
from transforms.npz_sink import WriteSignNpz
from transforms.pose_sink import WriteSignPoses
from transforms.staging import WriteSigns

# --output_format -> the sink writing it.
SINKS: dict[str, type[WriteSigns]] = {
    sink.output_format: sink for sink in (WriteSignNpz, WriteSignPoses)
}


def extraction_settings(opts: SignKpsOptions) -> ExtractionSettings:
    return ExtractionSettings(
        adjusted=opts.adjusted,
        layout=opts.layout_points,
        fps=opts.fps,
        decode_scale=opts.decode_scale,
    )


def backend_config(opts: SignKpsOptions) -> BackendConfig:
    return BackendConfig(
        model_dir=opts.model_dir,
        pose_model=opts.pose_model,
        graph_threads=opts.mediapipe_threads,
    )


def build(p: beam.Pipeline, opts: SignKpsOptions, run_id: str) -> PCollection[SignKey]:
    """Selected signs -> their videos -> keypoints -> one npz (or .pose folder) per sign.

    ``run_id`` names this run in the records its workers leave (transforms.staging).
    """
    sink = SINKS[opts.output_format]
    signs = p | "SelectSigns" >> beam.Create(selected_signs(opts))
    if not opts.overwrite:
        signs = signs | "SkipWrittenSigns" >> sink.skip_written(opts.output_root)
    written: PCollection[SignKey] = (
        signs
        | "ListSignVideos" >> ListSignVideos(opts.input_root, opts.corpus_layout, opts.output_root)
        | "ExtractKeypoints"
        >> ExtractKeypoints(
            ExtractKeypointsDoFn(
                opts.output_root,
                opts.backend,
                extraction_settings(opts),
                sink.write_sign,
                run_id,
                backend_config(opts),
                reuse=not opts.overwrite,
                isolate=opts.isolate_backend,
            )
        )
        | sink.__name__ >> sink(opts.output_root)
    )
    return written
