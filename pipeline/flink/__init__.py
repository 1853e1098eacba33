"""Running on Flink: the pinned distribution and job server, the services a run needs."""
