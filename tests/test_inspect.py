"""Previews and the HTML report, from a real pipeline run on the sample signer.

The pictures are decoded again (OpenCV, Pillow) and checked where it matters: each hand's
colour lies on that hand's keypoints, the skeleton sits on the signer's own frames. The
report is opened in a real headless Chromium (see test_report_in_chromium).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageSequence

from keypoints import layout as L
from keypoints.corpus import SignKey
from keypoints.outputs import locate_npz
from pipeline import cli
from pipeline.drawing import canvas as draw
from pipeline.drawing import preview
from pipeline.job.run import run
from pipeline.local.launcher import local_args

pytestmark = pytest.mark.slow

SIGNER = SignKey("01", "train", 1)
OTHERS = SignKey("01", "train", 2)
ODD_NAME = '<b>"odd" & name\'s'  # a video name that must be escaped in HTML
RIGHT, LEFT = draw.PART_COLOURS["right_hand"], draw.PART_COLOURS["left_hand"]


def run_pipeline(corpus: Path, output: Path, *extra: str) -> None:
    args = [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers", "01",
        "--splits", "train",
        "--selected_signs_from=1",
        "--selected_signs_to=2",
        *extra,
    ]  # fmt: skip
    run(local_args(args, workers=1))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames, signer_video, assets) -> Path:
    from tests.conftest import build_corpus

    broken = tmp_path_factory.mktemp("broken") / "broken.jpg"
    broken.write_bytes(b"not an image")
    return build_corpus(
        tmp_path_factory.mktemp("corpus"),
        {
            SIGNER: {"frames": signer_frames, "clip": signer_video},
            OTHERS: {ODD_NAME: [assets / "media" / "astronaut.jpg"] * 2, "broken": [broken]},
        },
    )


@pytest.fixture(scope="module")
def output(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    run_pipeline(corpus, out)
    return out


@pytest.fixture(scope="module")
def adjusted_output(tmp_path_factory, signer_frames) -> Path:
    from tests.conftest import build_corpus

    spec = {SIGNER: {"frames": signer_frames}}
    corpus = build_corpus(tmp_path_factory.mktemp("adj-corpus"), spec)
    out = tmp_path_factory.mktemp("adj-out")
    run_pipeline(corpus, out, "--adjusted")
    return out


def npz(output: Path, key: SignKey = SIGNER) -> Path:
    return output / f"{key.signer}-{key.split}" / f"{key.sign:04d}.npz"


def points(output: Path, video: str, key: SignKey = SIGNER) -> np.ndarray:
    with np.load(npz(output, key), allow_pickle=False) as f:
        return f[video]


def inspect_main(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def colour_pixels(image: np.ndarray, xy, colour, radius: int = 3, tolerance: int = 40) -> int:
    """How many pixels within ``radius`` of ``xy`` have ``colour``, give or take."""
    x, y = (round(v) for v in xy)
    patch = image[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
    diff = np.abs(patch.astype(int) - np.array(colour))
    return int(np.all(diff <= tolerance, axis=-1).sum())


def hand_check(image, frame_points, origin, size, tolerance=40):
    """Per hand: the fraction of its keypoints with more of its own colour than the other's."""
    (x0, y0), (w, h) = origin, size
    result = {}
    for part, own, other in (("right_hand", RIGHT, LEFT), ("left_hand", LEFT, RIGHT)):
        block = L.PARTS_184[part]
        assert L.part_present(frame_points, block), f"{part} not found in this frame"
        good = 0
        for x, y in frame_points[block.slice, :2]:
            xy = (x0 + x * w, y0 + y * h)
            mine = colour_pixels(image, xy, own, tolerance=tolerance)
            theirs = colour_pixels(image, xy, other, tolerance=tolerance)
            good += mine > 0 and mine > theirs
        result[part] = good / len(block)
    return result


# --- previews ----------------------------------------------------------------------


def test_png_grid_draws_each_hand_in_its_colour_on_the_signers_frames(output, corpus, tmp_path):
    out = tmp_path / "preview.png"
    frames_dir = corpus / "01" / "01" / "train" / "0001" / "frames"
    assert inspect_main("preview", "--npz", npz(output), "--video", "frames",
                        "--frames", frames_dir, "--out", out) == 0  # fmt: skip
    image = read_rgb(out)
    tile_w, tile_h = preview.DEFAULT_TILE_WIDTH, 270  # the sample frames are 640x360
    assert image.shape[1] == 3 * tile_w + 2 * preview.GAP
    layout = preview.GridLayout(tile_w, tile_h, columns=3, count=6)
    assert image.shape[0] > layout.origin(5)[1] + tile_h  # two rows, then the legend

    video = points(output, "frames")
    indices = preview.sample_indices(len(video), preview.DEFAULT_SAMPLES)
    assert indices == [0, 2, 3, 5, 6, 8]
    sources = sorted(frames_dir.glob("*.jpg"))
    for tile, index in enumerate(indices):
        x0, y0 = layout.origin(tile)
        found = hand_check(image, video[index], (x0, y0), (tile_w, tile_h))
        assert found["right_hand"] >= 0.9 and found["left_hand"] >= 0.8, (index, found)
        # away from the skeleton, the tile is the signer's own frame, scaled
        frame = cv2.resize(read_rgb(sources[index]), (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        corner = (slice(y0, y0 + 40), slice(x0, x0 + 80))  # top left: background, no skeleton
        diff = np.abs(image[corner].astype(int) - frame[:40, :80]).mean()
        assert diff < 3, (index, diff)


def test_gif_animates_every_frame_on_a_blank_canvas_of_the_recorded_size(output, tmp_path):
    out = tmp_path / "clip.gif"
    assert inspect_main("preview", "--npz", npz(output), "--video", "clip", "--out", out) == 0
    with Image.open(out) as gif:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
        duration = gif.info["duration"]
    video = points(output, "clip")  # recorded at 1280x720, 24 fps
    assert len(frames) == len(video) == 9 and duration == 40  # 24 fps, in GIF's 10 ms steps
    width, height = preview.DEFAULT_ANIMATION_WIDTH, 360
    top = draw.caption(width, "").shape[0]
    assert frames[0].shape == (top + height + draw.legend(width).shape[0], width, 3)
    for index in (0, 4, 8):
        found = hand_check(frames[index], video[index], (0, top), (width, height))
        assert found["right_hand"] >= 0.9 and found["left_hand"] >= 0.8, (index, found)
        corner = frames[index][top + 5 : top + 40, 5:80]  # blank canvas, no frame under it
        assert np.abs(corner.astype(int) - draw.BACKGROUND).max() <= 8


def test_mp4_on_the_video_file_frames(output, signer_video, tmp_path):
    out = tmp_path / "clip.mp4"
    assert inspect_main("preview", "--npz", npz(output), "--video", "clip",
                        "--frames", signer_video, "--out", out, "--width", "480") == 0  # fmt: skip
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == 24
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    video = points(output, "clip")
    assert len(frames) == 9
    top = draw.caption(480, "").shape[0]
    assert frames[0].shape[1] == 480 and frames[0].shape[0] >= top + 270
    # lossy video: colours blur, so looser tolerances, but each hand keeps its own colour
    found = hand_check(frames[4], video[4], (0, top), (480, 270), tolerance=70)
    assert found["right_hand"] >= 0.8 and found["left_hand"] >= 0.7, found


def test_adjusted_output_is_drawn_per_part_in_labelled_panels(adjusted_output, tmp_path):
    out = tmp_path / "adjusted.png"
    assert inspect_main("preview", "--npz", npz(adjusted_output), "--out", out) == 0
    image = read_rgb(out)
    layout = preview.GridLayout(480, 480, columns=3, count=6)
    assert image.shape[1] == layout.width
    side = 240
    for tile in range(6):
        x0, y0 = layout.origin(tile)
        panels = {part: image[y0 + (i // 2) * side + 30 : y0 + (i // 2 + 1) * side - 30,
                              x0 + (i % 2) * side : x0 + (i % 2 + 1) * side]
                  for i, part in enumerate(L.PART_NAMES)}  # fmt: skip
        for part, panel in panels.items():
            counts = {p: int(np.all(np.abs(panel.astype(int) - c) <= 30, axis=-1).sum())
                      for p, c in draw.PART_COLOURS.items()}  # fmt: skip
            others = sum(n for p, n in counts.items() if p != part)
            assert counts[part] > 150 and others < 5, (tile, part, counts)


def test_looks_adjusted_tells_the_two_outputs_apart(output, adjusted_output):
    assert not preview.looks_adjusted(points(output, "frames"))
    assert preview.looks_adjusted(points(adjusted_output, "frames"))


def test_preview_errors_name_the_input(output, signer_frames, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert inspect_main("preview", "--npz", npz(output), "--video", "nope", "--out", out) == 2
    assert "no video 'nope' (it holds: clip, frames)" in capsys.readouterr().err
    assert inspect_main("preview", "--npz", npz(output, OTHERS), "--video", "broken",
                        "--out", out) == 2  # fmt: skip
    assert "video 'broken' failed in the run: no readable frame" in capsys.readouterr().err
    assert inspect_main("preview", "--npz", npz(output), "--out", out) == 2
    assert "holds several videos (clip, frames): pick one with --video" in capsys.readouterr().err
    few = tmp_path / "few"
    few.mkdir()
    for frame in signer_frames[:3]:
        shutil.copy(frame, few)
    assert inspect_main("preview", "--npz", npz(output), "--video", "frames",
                        "--frames", few, "--out", out) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "the frames given end after 3 frames, but the keypoints have 9" in err
    assert inspect_main("preview", "--npz", npz(output), "--video", "frames",
                        "--out", tmp_path / "x.jpg") == 2  # fmt: skip
    assert "unknown preview format" in capsys.readouterr().err
    assert inspect_main("preview", "--npz", tmp_path / "none.npz", "--out", out) == 2
    assert "none.npz: no such file" in capsys.readouterr().err
    assert not out.exists()


def test_locate_finds_the_output_root_and_sign():
    assert locate_npz("O/01-train/0007.npz") == ("O", SignKey("01", "train", 7))
    assert locate_npz("01-train/0007.npz") == (".", SignKey("01", "train", 7))
    assert locate_npz("gs://b/o/02-test/0012.npz") == ("gs://b/o", SignKey("02", "test", 12))
    assert locate_npz("somewhere/else.npz") is None


# --- the report --------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(output, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert inspect_main("report", "--output_root", output, "--out", out) == 0
    return out


def test_report_is_self_contained_and_escapes_names(report, output):
    text = report.read_text(encoding="utf-8")
    assert ODD_NAME not in text and ODD_NAME in html.unescape(text)  # escaped, and shown
    for attribute in ("src", "href"):
        for value in text.split(f'{attribute}="')[1:]:
            assert value.startswith("data:"), value[:60]
    assert "http://" not in text and "https://" not in text
    run_record = json.loads((output / "_reports" / "run.json").read_text())
    assert html.escape(run_record["started"]) in text
    assert text.count('<figure class="worst">') == 3  # the ok videos, each with its preview


def test_report_needs_an_output_root(tmp_path, capsys):
    assert inspect_main("report", "--output_root", tmp_path, "--out", tmp_path / "r.html") == 2
    assert "no video reports under _reports/videos/" in capsys.readouterr().err


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium through Selenium; missing, it fails CI and skips elsewhere."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        reason = (f"{' and '.join(missing)} not installed: "
                  "apt-get install chromium chromium-driver (.ci/run does)")  # fmt: skip
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def column(driver, name: str) -> list[str]:
    from selenium.webdriver.common.by import By

    headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, "#videos th")]
    i = headers.index(name) + 1
    cells = driver.find_elements(By.CSS_SELECTOR, f"#videos tbody td:nth-child({i})")
    return [c.get_attribute("data-value") for c in cells]


def test_report_in_chromium(browser, report):
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    assert browser.title.startswith("signkps report")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    # nothing was fetched: every picture is inline, and all of them decoded
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])"
    )
    assert len(images) == 4 and all(done and width > 0 for done, width in images)

    assert column(browser, "video") == ["clip", "frames", ODD_NAME, "broken"]
    assert column(browser, "status") == ["ok", "ok", "ok", "failed"]
    failed = browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr td")
    assert [c.text for c in failed[:2]] == ["01-train/0002", "broken"]
    assert failed[2].text.startswith("no readable frame") and "00000.jpg" in failed[2].text
    worst = browser.find_elements(By.CSS_SELECTOR, "figure.worst figcaption b")
    assert worst[0].text == f"01-train/0002 {ODD_NAME}"  # no hands: the worst video

    header = browser.find_element(By.XPATH, "//table[@id='videos']//th[.='mean coverage']")
    header.click()
    ascending = [float(v) for v in column(browser, "mean coverage")]
    assert ascending == sorted(ascending) and ascending[0] == -1  # the failed video first
    assert column(browser, "video")[:2] == ["broken", ODD_NAME]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(v) for v in column(browser, "mean coverage")]
    assert descending == sorted(ascending, reverse=True)
    assert column(browser, "video")[-1] == "broken"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []


def test_report_escapes_markup_in_names_reasons_and_run_json():
    from pipeline.drawing.report_page import ReportInputs, render_report

    name, reason = "<img src=x onerror=alert(1)>", "bad header</td><script>alert(2)</script>"
    key = {"signer": "01", "split": "train", "frames": 4, "unreadable_frames": 0}
    records = [
        {
            **key,
            "sign": 1,
            "video": name,
            "status": "ok",
            "width": 64,
            "height": 48,
            "fps": 25,
            "coverage": {part: 0.25 for part in L.PART_NAMES},
        },
        {
            **key,
            "sign": 2,
            "video": "broken",
            "status": "failed",
            "reason": reason,
            "source": f"/corpus/{name}/00000.jpg",
            "problems": [reason],
        },
    ]
    run_record = {"started": "<script>alert(3)</script>", "options": {"<th>": name}}
    text = render_report(ReportInputs("/out/<b>", records, run_record, generated="now"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # still shown, as text
    assert "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in text and "&lt;th&gt;" in text
    assert "/out/&lt;b&gt;" in text and "/out/<b>" not in text
    assert "<img src=x" not in text and "</td><script>" not in text
    assert text.count("<script") == 1 and text.count("</script>") == 1  # the page's own
