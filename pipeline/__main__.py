"""``python -m pipeline [options]`` is ``signkps run [options]``.

For Dataflow's ``--setup_file ./setup.py`` workflow, which launches a job from a checkout
with ``python -m pipeline --runner=DataflowRunner ...`` (README.md, "Running on Dataflow").
"""

import sys

from pipeline.cli import exit_with, main

if __name__ == "__main__":
    exit_with(main(["run", *sys.argv[1:]]))
