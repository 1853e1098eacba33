import pytest

from pipeline.local import local_args
from pipeline.options import OptionsError, SignKpsOptions, selected_signs, validate


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
    assert "--runner=DirectRunner" in args and "--direct_running_mode=multi_processing" in args
