"""Options, graph assembly, the ``signkps`` command and the tools around a run.

Sub-packages, each doing one job (README.md, "Where things are"): ``job`` (the pipeline
proper), ``records`` (what a run writes about itself), ``tools`` (post-run commands),
``drawing`` (pictures and the report page), ``local`` (the local runner's conveniences)
and ``flink`` (running on a Flink cluster); ``cli`` dispatches to them.
"""

import warnings

# google-api-core (Dataflow's client libraries, which Beam imports) warns on import that
# Python 3.11 will leave its support window: it says nothing about a run. Filtered for every
# process that imports this package; pipeline.cli carries it to worker processes too.
PYTHON_VERSION_WARNING = "You are using a Python version"
warnings.filterwarnings("ignore", message=PYTHON_VERSION_WARNING, category=FutureWarning)
