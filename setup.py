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
    "matplotlib==3.11.2",
    "natsort==8.4.0",
    "pillow==12.3.0",
    "tqdm==4.70.1",
    "pillow==12.3.0",  # GIF previews (pipeline.inspect)
    "platformdirs==4.14.8",
]

# Writes `.pose` files (--output_format pose, python -m pipeline.convert); the tests read
# them back, so the test extra carries it too.
POSE = ["pose-format==0.15.0"]

EXTRAS = {
    "pose": POSE,
    "test": [
        *POSE,
        "pytest==9.2.0",
        "pytest-timeout==2.4.0",
        "ruff==0.17.6",
        "mypy==2.4.1",
        "selenium==4.51.0",  # drives Debian's Chromium to check the HTML report
    ],
}

setuptools.setup(
    name="signkps",
    version="0.1.0",
    description="Turn sign-language video corpora into MediaPipe keypoints with Apache Beam.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["keypoints*", "transforms*", "pipeline*"]),
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    license="Apache-2.0",
)
