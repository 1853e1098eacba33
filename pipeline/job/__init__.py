"""The pipeline proper: options, the graph, the runner, and a run from start to summary."""
