"""Beam DoFns and PTransforms over the domain code in ``keypoints``, and the sinks."""

import transforms.coders  # noqa: F401  (registers the SignKey coder for every runner)
