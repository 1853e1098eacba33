# The SDK container Dataflow workers run (README.md, "Running on Dataflow"):
#   docker build -t europe-west4-docker.pkg.dev/my-project/signkps/signkps:0.1.0 .
#
# Beam's own image supplies the worker launcher (/opt/apache/beam/boot); the Python
# environment is built here from setup.py and constraints.txt alone, so workers run exactly
# the versions the tests run. Installing on top of Beam's image instead would mix two sets
# that cannot agree: its apache-beam[gcp] client libraries need protobuf>=6, mediapipe
# 0.10.21 needs protobuf<5 (setup.py's `dataflow` extra is the part of apache-beam[gcp]
# this pipeline uses, at versions that work with protobuf 4.25).
FROM apache/beam_python3.11_sdk:2.77.0 AS beam

FROM python:3.11-slim-bookworm

COPY --from=beam /opt/apache/beam /opt/apache/beam

# The sources only build the package: workers start in /opt/signkps (below), where no copy
# of them can shadow the --setup_file package a job ships.
WORKDIR /opt/signkps/src
COPY setup.py constraints.txt ./
COPY keypoints/ keypoints/
COPY transforms/ transforms/
COPY pipeline/ pipeline/

# 1. The project and every dependency at its pinned version, and the build tools that
#    install the project's own package when a job ships it with --setup_file. Holistic's
#    models ship inside the mediapipe wheel: nothing is downloaded when a worker starts.
# 2. The headless build of the same OpenCV in place of the GUI build mediapipe depends on:
#    workers have no libGL. Uninstall first, since both wheels own the same cv2/ files.
# 3. Import what workers import, so that a broken image fails here and not on Dataflow: the
#    installed package (-I: not the sources in the current folder).
RUN pip install --no-cache-dir --constraint constraints.txt ".[dataflow]" setuptools wheel \
 && pip uninstall --yes opencv-contrib-python \
 && pip install --no-cache-dir --no-deps --constraint constraints.txt opencv-contrib-python-headless \
 && python -I -c "import cv2, mediapipe, apache_beam.io.gcp.gcsfilesystem, pipeline.job.graph"

# 4. The `tasks` backend's model files, downloaded from their official URLs and checked
#    against the sha256 pinned in keypoints/models.py, into the cache workers look in: a
#    job needs no --model_dir, and no worker downloads anything. Behind a firewall, point
#    SIGNKPS_MODEL_BASE_URL at a mirror of the official folders; POSE_MODELS can leave out
#    the pose bundles a corpus does not use (--pose_model).
ARG SIGNKPS_MODEL_BASE_URL=https://storage.googleapis.com/mediapipe-models
ARG POSE_MODELS="lite full heavy"
ENV SIGNKPS_CACHE=/opt/signkps/cache
RUN python -I -c "import os; from keypoints.backends import BackendConfig, fetch_models; \
[fetch_models('tasks', BackendConfig(pose_model=m), progress=False) \
 for m in os.environ['POSE_MODELS'].split()]"

# The image is complete. When a job ships the project with --setup_file, the worker launcher
# pip-installs it: install that package alone, offline, with the tools above. Resolving its
# dependencies would put the GUI OpenCV (mediapipe's requirement) back over the headless one.
ENV PIP_NO_DEPS=1 \
    PIP_NO_BUILD_ISOLATION=0
WORKDIR /opt/signkps

ENTRYPOINT ["/opt/apache/beam/boot"]
