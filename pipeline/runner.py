"""Which Beam runner executes a run."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle
from apache_beam.runners.runner import PipelineRunner

LOCAL_RUNNERS = {None, "DirectRunner", "direct", "directrunner"}


def is_local(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def create_runner(options: PipelineOptions) -> PipelineRunner | None:
    """The runner to hand beam.Pipeline, or None to let Beam pick it from the options.

    The DirectRunner first tries to download the Prism runner binary, which a local
    run must never do (and which ignores --direct_num_workers); it then falls back to
    the FnApiRunner. Ask for the FnApiRunner straight away, provisioned with the
    options as the DirectRunner does, so worker processes see them.
    """
    if not is_local(options):
        return None
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(provision))
