"""Which Beam runner executes a run."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle
from apache_beam.runners.runner import PipelineRunner


def _runner_name(options: PipelineOptions) -> str:
    """The runner's class name as Beam resolves it: case aside, ``direct`` is DirectRunner."""
    name = (options.view_as(StandardOptions).runner or "DirectRunner").lower()
    return name if name.endswith("runner") else name + "runner"


def is_local(options: PipelineOptions) -> bool:
    """Whether the run happens in this process and its children (no cluster, no service)."""
    return _runner_name(options) in {name.lower() for name in StandardOptions.LOCAL_RUNNERS}


def create_runner(options: PipelineOptions) -> PipelineRunner | None:
    """The runner to hand beam.Pipeline, or None to let Beam pick it from the options.

    For a local run, the FnApiRunner, which is what the DirectRunner runs batch pipelines
    on, asked for directly: the DirectRunner first tries to download the Prism runner
    binary, which a local run must never do (and which ignores --direct_num_workers).
    Like the DirectRunner, it gets the options as provisioning information, which is how
    its worker processes see them (their log level, for one).
    """
    if _runner_name(options) != "directrunner":
        return None
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(provision))
