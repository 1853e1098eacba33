"""Options, graph assembly, the ``signkps`` command and the tools around a run.

Sub-packages, each doing one job (README.md, "Where things are"): ``job`` (the pipeline
proper), ``records`` (what a run writes about itself), ``tools`` (post-run commands),
``drawing`` (pictures and the report page), ``local`` (the local runner's conveniences)
and ``flink`` (running on a Flink cluster); ``cli`` dispatches to them.
"""
