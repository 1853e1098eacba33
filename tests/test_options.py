import os
import subprocess

import pytest

from keypoints.backends import graph_threads_per_worker
from pipeline.job.options import (
    OptionsError,
    SignKpsOptions,
    check_arguments,
    selected_signs,
    validate,
)
from pipeline.local.launcher import local_args
from tests.conftest import SIGNKPS


def parse(*args: str) -> SignKpsOptions:
    return SignKpsOptions(list(args))


def test_defaults_select_the_whole_karsl_corpus():
    opts = parse("--input_root=/c", "--output_root=/o")
    assert opts.splits == ["train", "test"] and opts.signers == ["01", "02", "03"]
    assert (opts.selected_signs_from, opts.selected_signs_to) == (1, 502)
    assert opts.backend == "holistic" and opts.fps == 30.0 and not opts.adjusted
    assert opts.corpus_layout == "{signer}/{signer}/{split}/{sign:04d}"
    signs = selected_signs(opts)
    assert len(signs) == 3 * 2 * 502 and signs[0] == (1, "01", "train")


def test_reversed_or_out_of_range_signs_are_refused():
    with pytest.raises(OptionsError, match=r"sign range 5\.\.2"):
        validate(parse("--input_root=/c", "--output_root=/o", "--selected_signs_from=5",
                       "--selected_signs_to=2"))  # fmt: skip
    with pytest.raises(OptionsError, match="9999"):
        validate(parse("--input_root=/c", "--output_root=/o", "--selected_signs_to=10000"))


def test_local_defaults_yield_to_what_the_user_gave():
    args = local_args(["--direct_num_workers=1", "--input_root=/c"], workers=4)
    assert "--direct_num_workers=1" in args and "--direct_num_workers=4" not in args
    assert "--runner=DirectRunner" in args and "--direct_running_mode=multi_threading" in args
    # Without the extraction processes, MediaPipe needs a process per worker.
    args = local_args(["--input_root=/c", "--no_isolate_backend"], workers=2)
    assert "--direct_running_mode=multi_processing" in args
    args = local_args(["--direct_running_mode=multi_processing"], workers=2)
    assert args.count("--direct_running_mode=multi_processing") == 1


def test_local_runs_give_each_worker_the_cores_left_to_it_as_mediapipe_threads():
    cores = os.cpu_count() or 1
    assert parse(*local_args([], workers=cores)).mediapipe_threads == 1
    assert parse(*local_args(["--direct_num_workers", "1"])).mediapipe_threads == cores
    assert graph_threads_per_worker(3, cores=16) == 5 and graph_threads_per_worker(32, 16) == 1
    given = parse(*local_args(["--direct_num_workers=1", "--mediapipe_threads=0"]))
    assert given.mediapipe_threads == 0  # MediaPipe's own default, when asked for


def test_negative_mediapipe_threads_are_refused():
    with pytest.raises(OptionsError, match="--mediapipe_threads"):
        validate(parse("--input_root=/c", "--output_root=/o", "--mediapipe_threads=-1"))


@pytest.fixture
def corpus(tmp_path):
    """A KArSL-layout corpus: 01 train and test, 02 train only; its files may be empty here."""
    for signer, split in (("01", "train"), ("01", "test"), ("02", "train")):
        frame = tmp_path / "corpus" / signer / signer / split / "0001" / "v" / "00000.jpg"
        frame.parent.mkdir(parents=True)
        frame.write_bytes(b"")
    return tmp_path / "corpus"


def refusal(*args: str) -> str:
    with pytest.raises(OptionsError) as refused:
        validate(parse(*args))
    return str(refused.value)


def test_input_root_missing_or_empty_is_refused(tmp_path):
    assert refusal(f"--input_root={tmp_path}/nowhere", f"--output_root={tmp_path}/o") == (
        f"--input_root {tmp_path}/nowhere does not exist"
    )
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert refusal(f"--input_root={tmp_path}/empty", f"--output_root={tmp_path}/o") == (
        f"--input_root {tmp_path}/empty is empty (or does not exist): no file under it"
    )


def test_unknown_signer_or_split_is_refused_with_what_exists(corpus, tmp_path):
    roots = (f"--input_root={corpus}", f"--output_root={tmp_path}/o")
    assert refusal(*roots, "--signers", "01", "04", "--splits", "train") == (
        f"unknown signer 04: nothing under {corpus} in the layout "
        f"{{signer}}/{{signer}}/{{split}}/{{sign:04d}} for splits train "
        f"(folders in {corpus}: 01, 02)"
    )
    assert refusal(*roots, "--signers", "01", "--splits", "train", "tset") == (
        f"unknown split tset: nothing under {corpus} in the layout "
        f"{{signer}}/{{signer}}/{{split}}/{{sign:04d}} for signers 01 "
        f"(folders in {corpus}/01/01: test, train)"
    )
    # A gap (02 has no test split) is not a typo: the run lists its signs as without videos.
    validate(parse(*roots, "--signers", "01", "02", "--splits", "train", "test"))


def test_output_root_inside_the_input_root_is_refused(corpus):
    message = refusal(f"--input_root={corpus}", f"--output_root={corpus}/01/keypoints")
    assert message == (
        f"--output_root {corpus}/01/keypoints is inside --input_root {corpus}: "
        "choose an output folder outside the corpus"
    )
    assert "inside" in refusal(f"--input_root={corpus}/", f"--output_root={corpus}")


def test_bad_values_fail_in_one_line_before_any_work(corpus, tmp_path):
    output = tmp_path / "out"
    args = [f"--input_root={corpus}", f"--output_root={output}", "--backend=openpose"]
    done = subprocess.run(
        [SIGNKPS, "run", *args, "--signers=01", "--splits=train"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "signkps: argument --backend: invalid choice: 'openpose' (choose from 'holistic', 'tasks')"
    )
    assert "usage:" not in done.stderr and not output.exists()
    with pytest.raises(OptionsError, match=r"^argument --selected_signs_to: invalid int value"):
        check_arguments(["--selected_signs_to=ten"])
