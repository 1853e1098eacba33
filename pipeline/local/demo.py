"""``signkps demo`` (``./run_local.sh --demo``): the real pipeline on a tiny corpus.

The corpus is made from the public-domain portrait of Grace Hopper that ships with
matplotlib: a few short "videos" whose frames pan and zoom across the picture, laid out
like KArSL (``01/01/train/0001/<video>/00000.jpg``). MediaPipe finds her pose and face
in every frame, and no hands: she is not signing.
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
import numpy.typing as npt
from matplotlib import cbook

from keypoints.corpus import KARSL_LAYOUT, SignKey, join, sign_folder
from pipeline.job.run import LocalWatch, run_and_report
from pipeline.local.launcher import local_args
from pipeline.usage import CommandParser

SIGNS = (1, 2)
VIDEOS_PER_SIGN = 2
FRAMES_PER_VIDEO = 8


def portrait() -> npt.NDArray[np.uint8]:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"matplotlib's sample image is missing: {path}")
    return image  # type: ignore[return-value]


def moving_frames(image: npt.NDArray[np.uint8], variant: int) -> list[npt.NDArray[np.uint8]]:
    """Crops of ``image`` that drift sideways and zoom in a little, frame by frame."""
    height, width = image.shape[:2]
    direction = 1 if variant % 2 == 0 else -1
    frames = []
    for i in range(FRAMES_PER_VIDEO):
        crop = int(min(width, height) * (0.9 - 0.01 * i))
        x = (width - crop) // 2 + direction * 3 * i
        y = (height - crop) // 2 - 2 * i
        frames.append(cv2.resize(image[y : y + crop, x : x + crop], (360, 360)).astype(np.uint8))
    return frames


def build_corpus(root: str) -> None:
    image = portrait()
    for sign in SIGNS:
        folder = sign_folder(root, KARSL_LAYOUT, SignKey("01", "train", sign))
        for v in range(VIDEOS_PER_SIGN):
            video = os.path.join(folder, f"video_{v + 1}")
            os.makedirs(video)
            for i, frame in enumerate(moving_frames(image, sign * VIDEOS_PER_SIGN + v)):
                cv2.imwrite(os.path.join(video, f"{i:05d}.jpg"), frame)


def main(argv: list[str], watch_local: LocalWatch | None = None) -> int:
    """Build the corpus, then run the pipeline on it as ``signkps local`` would."""
    parser = CommandParser(prog="signkps demo", description=__doc__)
    parser.add_argument(
        "--workdir", help="where to put the corpus and output (default: a new temporary folder)"
    )
    known, rest = parser.parse_known_args(argv)
    workdir = known.workdir or tempfile.mkdtemp(prefix="signkps-demo-")
    corpus, output = join(workdir, "corpus"), join(workdir, "output")
    build_corpus(corpus)
    print(
        f"signkps demo: built a corpus of {len(SIGNS)} signs x {VIDEOS_PER_SIGN} videos "
        f"x {FRAMES_PER_VIDEO} frames in {corpus}"
    )
    args = [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers", "01",
        "--splits", "train",
        f"--selected_signs_from={SIGNS[0]}",
        f"--selected_signs_to={SIGNS[-1]}",
    ]  # fmt: skip
    code = run_and_report(local_args(args + rest), watch_local)
    print(
        f"signkps demo: keypoints in {output}/01-train/*.npz; "
        "load one with numpy.load(path, allow_pickle=False)"
    )
    return code
